import type { SQL } from 'bun'
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

const UNIQUE_VIOLATION = '23505'

const isUniqueViolation = (error: unknown): boolean =>
  (error as { errno?: string } | null)?.errno === UNIQUE_VIOLATION

/** The clients table on the PostgresStore's pool; every method is one statement. */
export class PostgresClientStore implements ClientStore {
  constructor(private readonly sql: SQL) {}

  async createClient(c: NewClient): Promise<CreateClientResult> {
    const rows = await this.sql`
      INSERT INTO clients (id, name, key_hash, signing_secret, allowed_callback_hosts, rate_limit, llm_rpm,
        daily_token_budget, model, system_prompt, disabled, created_at, updated_at)
      VALUES (${c.id}, ${c.name}, ${c.keyHash}, ${c.signingSecret},
        ${columnValue('allowedCallbackHosts', c.allowedCallbackHosts)}, ${c.rateLimit}, ${c.llmRpm},
        ${c.dailyTokenBudget}, ${c.model}, ${c.systemPrompt}, ${c.disabled}, ${c.createdAt}, ${c.createdAt})
      ON CONFLICT (name) WHERE deleted_at IS NULL DO NOTHING
      RETURNING id`
    return rows.length === 1 ? { kind: 'created' } : { kind: 'name_taken' }
  }

  async getClient(id: string): Promise<ClientRecord | undefined> {
    const [row] = await this.sql<ClientRow[]>`SELECT * FROM clients WHERE id = ${id}`
    return row ? clientFromRow(row) : undefined
  }

  async listClients(): Promise<ClientRecord[]> {
    const rows = await this.sql<ClientRow[]>`
      SELECT * FROM clients WHERE deleted_at IS NULL ORDER BY created_at, id`
    return rows.map(clientFromRow)
  }

  async findClientByKeyHash(keyHash: string): Promise<ClientRecord | undefined> {
    const [row] = await this.sql<ClientRow[]>`SELECT * FROM clients WHERE key_hash = ${keyHash}`
    return row ? clientFromRow(row) : undefined
  }

  async hasClients(): Promise<boolean> {
    const rows = await this.sql`SELECT 1 FROM clients WHERE deleted_at IS NULL LIMIT 1`
    return rows.length > 0
  }

  async updateClient(
    id: string,
    patch: ClientPatch,
    now: number,
  ): Promise<ClientRecord | 'name_taken' | undefined> {
    const values: Record<string, unknown> = { updated_at: now }
    for (const key of Object.keys(patch) as (keyof ClientPatch)[])
      if (patch[key] !== undefined) values[SETTING_COLUMNS[key]] = columnValue(key, patch[key])
    try {
      const [row] = await this.sql<ClientRow[]>`
        UPDATE clients SET ${this.sql(values)} WHERE id = ${id} AND deleted_at IS NULL RETURNING *`
      return row ? clientFromRow(row) : undefined
    } catch (error) {
      if (isUniqueViolation(error)) return 'name_taken'
      throw error
    }
  }

  async rotateClientKey(id: string, keyHash: string, now: number): Promise<boolean> {
    const rows = await this.sql`
      UPDATE clients SET key_hash = ${keyHash}, updated_at = ${now}
      WHERE id = ${id} AND deleted_at IS NULL RETURNING id`
    return rows.length === 1
  }

  async rotateClientSecret(
    id: string,
    signingSecret: string,
    previousValidUntil: number,
    now: number,
  ): Promise<ClientRecord | undefined> {
    // Both secrets move in one statement: no reader sees the new one without the old beside it.
    const [row] = await this.sql<ClientRow[]>`
      UPDATE clients SET previous_signing_secret = signing_secret, signing_secret = ${signingSecret},
        previous_valid_until = ${previousValidUntil}, updated_at = ${now}
      WHERE id = ${id} AND deleted_at IS NULL RETURNING *`
    return row ? clientFromRow(row) : undefined
  }

  async deleteClient(id: string, now: number): Promise<boolean> {
    const rows = await this.sql`
      UPDATE clients SET key_hash = NULL, deleted_at = ${now}, updated_at = ${now}
      WHERE id = ${id} AND deleted_at IS NULL RETURNING id`
    return rows.length === 1
  }
}
