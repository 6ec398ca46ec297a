/**
 * The clients table, a port of its own beside `Store` (each adapter composes one on its own
 * database handle). Secrets arrive here already hashed (the API key) or sealed (the signing
 * secrets): the store keeps text and knows nothing of keys.
 */

/** What an operator may set per client; `null` means the relay-wide setting. */
export interface ClientSettings {
  /** Hostnames or `.suffix`es its callbacks may go to, within CALLBACK_ALLOWED_HOSTS. */
  allowedCallbackHosts: string[] | null
  /** Requests per RATE_LIMIT_WINDOW. */
  rateLimit: number | null
  /** LLM calls a minute, below LLM_MAX_RPM. */
  llmRpm: number | null
  /** Tokens a UTC day. */
  dailyTokenBudget: number | null
  model: string | null
  systemPrompt: string | null
}

export interface ClientRecord extends ClientSettings {
  id: string
  name: string
  /** Hex SHA-256 of the API key; null once deleted, so the key never works again. */
  keyHash: string | null
  /** Sealed (see src/data-encryption.ts). */
  signingSecret: string
  /** The secret before the last rotation, sealed; signed with too until `previousValidUntil`. */
  previousSigningSecret: string | null
  previousValidUntil: number | null
  disabled: boolean
  createdAt: number
  updatedAt: number
  deletedAt: number | null
}

export type NewClient = Omit<
  ClientRecord,
  'previousSigningSecret' | 'previousValidUntil' | 'updatedAt' | 'deletedAt'
>

export type ClientPatch = Partial<ClientSettings & { name: string; disabled: boolean }>

export type CreateClientResult = { kind: 'created' } | { kind: 'name_taken' }

export interface ClientStore {
  /** Names are unique among clients not deleted. */
  createClient(client: NewClient): Promise<CreateClientResult>
  /** Deleted ones too: their jobs are still signed with their secret. */
  getClient(id: string): Promise<ClientRecord | undefined>
  /** Not deleted ones, oldest first. */
  listClients(): Promise<ClientRecord[]>
  findClientByKeyHash(keyHash: string): Promise<ClientRecord | undefined>
  /** Whether any client is not deleted: then the API needs a key. */
  hasClients(): Promise<boolean>
  /** Undefined when there is no such client (or it is deleted); `name_taken` for a name in use. */
  updateClient(id: string, patch: ClientPatch, now: number): Promise<ClientRecord | 'name_taken' | undefined>
  rotateClientKey(id: string, keyHash: string, now: number): Promise<boolean>
  /** The current secret becomes the previous one, valid until `previousValidUntil`; one statement. */
  rotateClientSecret(
    id: string,
    signingSecret: string,
    previousValidUntil: number,
    now: number,
  ): Promise<ClientRecord | undefined>
  /** Kept for its jobs' signatures; its key stops working at once and its name is free again. */
  deleteClient(id: string, now: number): Promise<boolean>
}

/** The columns as both SQL adapters read them. */
export interface ClientRow {
  id: string
  name: string
  key_hash: string | null
  signing_secret: string
  previous_signing_secret: string | null
  previous_valid_until: number | string | null
  allowed_callback_hosts: string | null
  rate_limit: number | null
  llm_rpm: number | null
  daily_token_budget: number | string | null
  model: string | null
  system_prompt: string | null
  disabled: number | boolean
  created_at: number | string
  updated_at: number | string
  deleted_at: number | string | null
}

const numberOrNull = (value: number | string | null): number | null => (value === null ? null : Number(value))

export function clientFromRow(row: ClientRow): ClientRecord {
  return {
    id: row.id,
    name: row.name,
    keyHash: row.key_hash,
    signingSecret: row.signing_secret,
    previousSigningSecret: row.previous_signing_secret,
    previousValidUntil: numberOrNull(row.previous_valid_until),
    allowedCallbackHosts:
      row.allowed_callback_hosts === null ? null : (JSON.parse(row.allowed_callback_hosts) as string[]),
    rateLimit: row.rate_limit,
    llmRpm: row.llm_rpm,
    dailyTokenBudget: numberOrNull(row.daily_token_budget),
    model: row.model,
    systemPrompt: row.system_prompt,
    disabled: row.disabled === true || row.disabled === 1,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    deletedAt: numberOrNull(row.deleted_at),
  }
}

/** Settings as the columns hold them (`allowed_callback_hosts` as JSON text). */
export const SETTING_COLUMNS = {
  allowedCallbackHosts: 'allowed_callback_hosts',
  rateLimit: 'rate_limit',
  llmRpm: 'llm_rpm',
  dailyTokenBudget: 'daily_token_budget',
  model: 'model',
  systemPrompt: 'system_prompt',
  name: 'name',
  disabled: 'disabled',
} as const satisfies Record<keyof ClientPatch, string>

export function columnValue(key: keyof ClientPatch, value: unknown): string | number | boolean | null {
  if (value === null || value === undefined) return null
  if (key === 'allowedCallbackHosts') return JSON.stringify(value)
  return value as string | number | boolean
}
