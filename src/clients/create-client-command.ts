import { openStore } from '../backing.ts'
import { newJobId, systemClock } from '../clock.ts'
import type { Config } from '../config/config.ts'
import { DataEncryption } from '../data-encryption.ts'
import { ClientService } from './client-service.ts'

/**
 * `llm-relay clients create NAME`: a first client without an admin key, written straight into
 * the configured database. A running relay notices within its 5 s lookup cache and from then
 * on wants a key. The key and the secret are printed once, here, and kept nowhere in the clear.
 */
export async function createClientCommand(
  config: Config,
  name: string,
  io: { out: (text: string) => void; err: (text: string) => void },
): Promise<number> {
  const store = await openStore(config, systemClock, 1)
  try {
    const service = new ClientService({
      clients: store.clients,
      encryption: new DataEncryption(config.dataEncryptionKey),
      clock: systemClock,
      newId: newJobId,
      secretGraceMs: config.callbackSecretGrace,
      onChange: () => {},
    })
    const created = await service.create({ name })
    if (created === 'name_taken') {
      io.err(`llm-relay: a client named ${name} exists already`)
      return 1
    }
    io.out(
      [
        `Created client ${name} (id ${created.client.id}).`,
        `API key, shown once (send it as Authorization: Bearer <key>):`,
        `  ${created.apiKey}`,
        `Signing secret, shown once (verify its callbacks with it):`,
        `  ${created.signingSecret}`,
      ].join('\n'),
    )
    if (!config.dataEncryptionKey.length)
      io.err('llm-relay: DATA_ENCRYPTION_KEY is not set, so the signing secret is stored unencrypted')
    return 0
  } finally {
    await store.close()
  }
}
