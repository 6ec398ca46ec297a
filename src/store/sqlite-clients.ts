import {
  type ClientPatch,
  type ClientRecord,
  type ClientRow,
  type ClientStore,
  type CreateClientResult,
  clientFromRow,
  columnValue,
  type NewClient,
  SETTING_COLUMNS,
} from './client-store.ts'
import type { GroupCommit } from './group-commit.ts'
import type { StoreDatabase } from './sqlite-database.ts'

type Value = string | number | null

const sqliteValue = (value: string | number | boolean | null): Value =>
  typeof value === 'boolean' ? (value ? 1 : 0) : value

/** The clients table on the SqliteStore's own handle; its writes join the store's group commit. */
export class SqliteClientStore implements ClientStore {
  constructor(
    private readonly db: StoreDatabase,
    private readonly writes: GroupCommit,
  ) {}

  private nameTaken(name: string, except: string): boolean {
    return (
      this.db
        .query<{ id: string }, [string, string]>(
          'SELECT id FROM clients WHERE name = ? AND deleted_at IS NULL AND id != ?',
        )
        .get(name, except) !== null
    )
  }

  private read(id: string): ClientRecord | undefined {
    const row = this.db.query<ClientRow, [string]>('SELECT * FROM clients WHERE id = ?').get(id)
    return row ? clientFromRow(row) : undefined
  }

  createClient(c: NewClient): Promise<CreateClientResult> {
    return this.writes.run((): CreateClientResult => {
      // One writer: nothing commits between this check and the insert.
      if (this.nameTaken(c.name, c.id)) return { kind: 'name_taken' }
      this.db
        .query<never, Value[]>(
          `INSERT INTO clients (id, name, key_hash, signing_secret, allowed_callback_hosts, rate_limit, llm_rpm,
             daily_token_budget, model, system_prompt, disabled, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          c.id,
          c.name,
          c.keyHash,
          c.signingSecret,
          columnValue('allowedCallbackHosts', c.allowedCallbackHosts) as Value,
          c.rateLimit,
          c.llmRpm,
          c.dailyTokenBudget,
          c.model,
          c.systemPrompt,
          c.disabled ? 1 : 0,
          c.createdAt,
          c.createdAt,
        )
      return { kind: 'created' }
    })
  }

  async getClient(id: string): Promise<ClientRecord | undefined> {
    await this.writes.flushed()
    return this.read(id)
  }

  async listClients(): Promise<ClientRecord[]> {
    await this.writes.flushed()
    return this.db
      .query<ClientRow, []>('SELECT * FROM clients WHERE deleted_at IS NULL ORDER BY created_at, id')
      .all()
      .map(clientFromRow)
  }

  async findClientByKeyHash(keyHash: string): Promise<ClientRecord | undefined> {
    await this.writes.flushed()
    const row = this.db.query<ClientRow, [string]>('SELECT * FROM clients WHERE key_hash = ?').get(keyHash)
    return row ? clientFromRow(row) : undefined
  }

  async hasClients(): Promise<boolean> {
    await this.writes.flushed()
    return (
      this.db
        .query<{ found: number }, []>('SELECT 1 AS found FROM clients WHERE deleted_at IS NULL LIMIT 1')
        .get() !== null
    )
  }

  updateClient(
    id: string,
    patch: ClientPatch,
    now: number,
  ): Promise<ClientRecord | 'name_taken' | undefined> {
    return this.writes.run((): ClientRecord | 'name_taken' | undefined => {
      if (patch.name !== undefined && this.nameTaken(patch.name, id)) return 'name_taken'
      const keys = (Object.keys(patch) as (keyof ClientPatch)[]).filter((k) => patch[k] !== undefined)
      const sets = keys.map((k) => `${SETTING_COLUMNS[k]} = ?`)
      const values = keys.map((k) => sqliteValue(columnValue(k, patch[k])))
      const changed = this.db
        .query<never, Value[]>(
          `UPDATE clients SET ${[...sets, 'updated_at = ?'].join(', ')} WHERE id = ? AND deleted_at IS NULL`,
        )
        .run(...values, now, id).changes
      return changed === 0 ? undefined : this.read(id)
    })
  }

  rotateClientKey(id: string, keyHash: string, now: number): Promise<boolean> {
    return this.writes.run(
      () =>
        this.db
          .query<never, Value[]>(
            'UPDATE clients SET key_hash = ?, updated_at = ? WHERE id = ? AND deleted_at IS NULL',
          )
          .run(keyHash, now, id).changes === 1,
    )
  }

  rotateClientSecret(
    id: string,
    signingSecret: string,
    previousValidUntil: number,
    now: number,
  ): Promise<ClientRecord | undefined> {
    return this.writes.run(() => {
      const row = this.db
        .query<ClientRow, Value[]>(
          `UPDATE clients SET previous_signing_secret = signing_secret, signing_secret = ?,
             previous_valid_until = ?, updated_at = ?
           WHERE id = ? AND deleted_at IS NULL RETURNING *`,
        )
        .get(signingSecret, previousValidUntil, now, id)
      return row ? clientFromRow(row) : undefined
    })
  }

  deleteClient(id: string, now: number): Promise<boolean> {
    return this.writes.run(
      () =>
        this.db
          .query<never, Value[]>(
            'UPDATE clients SET key_hash = NULL, deleted_at = ?, updated_at = ? WHERE id = ? AND deleted_at IS NULL',
          )
          .run(now, now, id).changes === 1,
    )
  }
}
