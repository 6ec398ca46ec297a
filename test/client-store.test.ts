import { describe, expect, test } from 'bun:test'
import type { NewClient } from '../src/store/client-store.ts'
import { closedAfterEach, storeAdapters, T0 } from './support/stores.ts'

/* The clients table's contract, both adapters, real databases: a database of its own per test. */

const adapters = storeAdapters('PostgresStore (the clients table)')
const opened = closedAfterEach()

function newClient(overrides: Partial<NewClient> = {}): NewClient {
  const id = crypto.randomUUID()
  return {
    id,
    name: `client-${id.slice(0, 8)}`,
    keyHash: `hash-${id}`,
    signingSecret: 'plain:whsec_current',
    allowedCallbackHosts: null,
    rateLimit: null,
    llmRpm: null,
    dailyTokenBudget: null,
    model: null,
    systemPrompt: null,
    disabled: false,
    createdAt: T0,
    ...overrides,
  }
}

for (const adapter of adapters) {
  describe(`${adapter.name}: clients`, () => {
    const open = async () => {
      const store = await adapter.fresh().open()
      opened.push(store)
      return store.clients
    }

    test('a created client reads back with its settings, by id and by key hash', async () => {
      const clients = await open()
      expect(await clients.hasClients()).toBe(false)
      const c = newClient({
        allowedCallbackHosts: ['hooks.example.com', '.example.org'],
        rateLimit: 30,
        llmRpm: 5,
        dailyTokenBudget: 5_000_000_000,
        model: 'some/model',
        systemPrompt: 'Be brief.',
      })
      expect(await clients.createClient(c)).toEqual({ kind: 'created' })
      const expected = {
        ...c,
        previousSigningSecret: null,
        previousValidUntil: null,
        updatedAt: T0,
        deletedAt: null,
      }
      expect(await clients.getClient(c.id)).toEqual(expected)
      expect(await clients.findClientByKeyHash(c.keyHash as string)).toEqual(expected)
      expect(await clients.findClientByKeyHash('hash-of-nothing')).toBeUndefined()
      expect(await clients.hasClients()).toBe(true)
    })

    test('names are unique among clients not deleted', async () => {
      const clients = await open()
      const first = newClient({ name: 'acme' })
      await clients.createClient(first)
      expect(await clients.createClient(newClient({ name: 'acme' }))).toEqual({ kind: 'name_taken' })
      const other = newClient({ name: 'other' })
      await clients.createClient(other)
      expect(await clients.updateClient(other.id, { name: 'acme' }, T0 + 1)).toBe('name_taken')
      expect((await clients.getClient(other.id))?.name).toBe('other')
      expect(await clients.deleteClient(first.id, T0 + 2)).toBe(true)
      expect(await clients.createClient(newClient({ name: 'acme' }))).toEqual({ kind: 'created' })
    })

    test('a patch changes only what it names; null sets a setting back to the relay-wide one', async () => {
      const clients = await open()
      const c = newClient({ rateLimit: 10, model: 'a/model' })
      await clients.createClient(c)
      const updated = await clients.updateClient(c.id, { llmRpm: 3, model: null, disabled: true }, T0 + 5)
      expect(updated).toMatchObject({
        rateLimit: 10,
        llmRpm: 3,
        model: null,
        disabled: true,
        updatedAt: T0 + 5,
      })
      expect(await clients.getClient(c.id)).toEqual(updated as never)
      expect(await clients.updateClient('no-such-client', { llmRpm: 1 }, T0)).toBeUndefined()
    })

    test('rotating the secret keeps the old one as previous, until the given time', async () => {
      const clients = await open()
      const c = newClient()
      await clients.createClient(c)
      const rotated = await clients.rotateClientSecret(c.id, 'plain:whsec_new', T0 + 86_400_000, T0 + 10)
      expect(rotated).toMatchObject({
        signingSecret: 'plain:whsec_new',
        previousSigningSecret: 'plain:whsec_current',
        previousValidUntil: T0 + 86_400_000,
      })
      const again = await clients.rotateClientSecret(c.id, 'plain:whsec_newer', T0 + 99, T0 + 20)
      expect(again).toMatchObject({
        signingSecret: 'plain:whsec_newer',
        previousSigningSecret: 'plain:whsec_new',
      })
      expect(await clients.rotateClientSecret('no-such-client', 'x', 0, 0)).toBeUndefined()
    })

    test('rotating the key: the old hash finds nothing, the new one finds the client', async () => {
      const clients = await open()
      const c = newClient()
      await clients.createClient(c)
      expect(await clients.rotateClientKey(c.id, 'hash-new', T0 + 1)).toBe(true)
      expect(await clients.findClientByKeyHash(c.keyHash as string)).toBeUndefined()
      expect((await clients.findClientByKeyHash('hash-new'))?.id).toBe(c.id)
    })

    test('a deleted client: its key finds nothing, it is listed no more, it still reads by id', async () => {
      const clients = await open()
      const kept = newClient({ createdAt: T0 })
      const gone = newClient({ createdAt: T0 + 1 })
      await clients.createClient(kept)
      await clients.createClient(gone)
      expect((await clients.listClients()).map((c) => c.id)).toEqual([kept.id, gone.id])
      expect(await clients.deleteClient(gone.id, T0 + 9)).toBe(true)
      expect(await clients.deleteClient(gone.id, T0 + 10)).toBe(false)
      expect(await clients.findClientByKeyHash(gone.keyHash as string)).toBeUndefined()
      expect((await clients.listClients()).map((c) => c.id)).toEqual([kept.id])
      expect(await clients.getClient(gone.id)).toMatchObject({ deletedAt: T0 + 9, keyHash: null })
      expect(await clients.rotateClientKey(gone.id, 'hash-again', T0 + 11)).toBe(false)
      expect(await clients.updateClient(gone.id, { llmRpm: 1 }, T0 + 11)).toBeUndefined()
      await clients.deleteClient(kept.id, T0 + 12)
      expect(await clients.hasClients()).toBe(false)
    })
  })
}
