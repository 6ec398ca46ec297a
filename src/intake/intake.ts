import { createHash } from 'node:crypto'
import { checkLlmParameters, type LlmParameters } from '../answer/parameters.ts'
import { callbackHostAllowed } from '../clients/allowed-hosts.ts'
import type { Clock } from '../clock.ts'
import type { DataEncryption } from '../data-encryption.ts'
import type { Logger } from '../log.ts'
import type { ClientSettings } from '../store/client-store.ts'
import type { AcceptResult, Job, NewJob, Store } from '../store/store.ts'
import { callbackHeaderNames, callbackHeaderProblems, callbackHeadersContext } from './callback-headers.ts'

/** A message to answer, as a client sent it; its shape is already checked. */
export interface Submission {
  /** Whose job this is ('' without API keys). */
  owner: string
  /** The client's own defaults and limits (null: the relay-wide ones). */
  settings: Pick<ClientSettings, 'model' | 'systemPrompt' | 'allowedCallbackHosts'>
  message: string
  callbackUrl: string
  conversationId?: string | undefined
  model?: string | undefined
  systemPrompt?: string | undefined
  metadata?: Record<string, unknown> | undefined
  llm?: LlmParameters | undefined
  /** Sent with every callback attempt; secrets of the receiver. */
  callbackHeaders?: Record<string, string> | undefined
  idempotencyKey: string | null
  /** The trace the job's attempts continue (src/telemetry); absent while tracing is off. */
  traceContext?: string | undefined
}

/** A field the intake refuses, named as the API names it. */
export interface Refusal {
  /** `callback_url`, `metadata`, `callback_headers`, or a pointer below `llm` (`llm/temperature`). */
  field: string
  /** For `callback_headers`: the header refused. */
  header?: string
  message: string
}

export type IntakeOutcome =
  | { kind: 'created'; job: Job }
  /** The same Idempotency-Key with the same request: the job it made, nothing new. */
  | { kind: 'replayed'; job: Job }
  | { kind: 'refused'; refusals: Refusal[] }
  /** The Idempotency-Key already names a job made from a different request. */
  | { kind: 'key_reused'; jobId: string }

export type CallbackVerdict = { ok: true } | { ok: false; reason: string }

export interface IntakeDeps {
  store: Store
  /** Seals callback headers (DATA_ENCRYPTION_KEY). */
  encryption: DataEncryption
  clock: Clock
  logger: Logger
  newId: () => string
  defaultModel: string
  defaultSystemPrompt: string
  /** LLM_TEMPERATURE and LLM_MAX_TOKENS: what a request's `llm` leaves out (undefined: the provider's default). */
  defaultParameters: { temperature: number | undefined; maxTokens: number | undefined }
  metadataMaxBytes: number
  /** The address guard's first opinion of a callback URL (delivery checks it again). */
  checkCallbackUrl: (url: string) => Promise<CallbackVerdict>
  /** A job was committed by this intake: count it, and wake the worker unless it runs it already. */
  onAccepted: (job: Job) => void
  /**
   * Claim at accept: a free LLM slot of this process's worker, if it has one now. The job is
   * then committed already leased to that worker (when it heads its conversation) and handed
   * to it as the accept commits, or at the latest as it returns.
   */
  offerClaim?: () => ClaimOffer | undefined
}

/** The worker's side of a claim at accept: a free LLM slot of it (Worker.offerClaim). */
export interface ClaimOffer {
  workerId: string
  leaseMs: number
  /**
   * The accept of `job` is committed and its sync to disk under way (only where the store can
   * tell): a job that came leased starts now, and `accepted` then finds it started.
   */
  committed(job: Job): void
  /** The accept committed `job`: one leased to the worker runs (unless it runs already); a queued one frees the slot. */
  accepted(job: Job): void
  /** Nothing was committed (a replay, a reused key, a fault): the slot is the worker's again, unless a run began with it. */
  declined(): void
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex')

/** Without a conversation id the conversation is the callback endpoint's own. */
export function conversationIdFor(submission: {
  conversationId?: string | undefined
  callbackUrl: string
}): string {
  return submission.conversationId ?? `cb:${sha256(submission.callbackUrl).slice(0, 40)}`
}

/**
 * What an Idempotency-Key replay must match: every field that shapes the job, as sent (the
 * spelling of this array is stored with each job: changing it breaks replays across versions).
 */
export function requestHash(s: Submission): string {
  const fields: unknown[] = [
    s.message,
    s.callbackUrl,
    s.conversationId ?? null,
    s.model ?? null,
    s.systemPrompt ?? null,
    s.metadata ?? null,
    // Only where sent, so a key used before `llm` existed still replays.
    ...(s.llm === undefined ? [] : [s.llm]),
  ]
  // Header names only (where sent): a hash of a receiver's token kept beside the job could be guessed at offline.
  if (s.callbackHeaders !== undefined)
    fields.push({ callback_headers: callbackHeaderNames(s.callbackHeaders) })
  return sha256(JSON.stringify(fields))
}

/**
 * Intake: turns a submitted message into a committed job. It knows the rules of acceptance
 * (where callbacks may go, the defaults, what makes a replay) and nothing of HTTP.
 */
export class Intake {
  constructor(private readonly deps: IntakeDeps) {}

  async submit(submission: Submission): Promise<IntakeOutcome> {
    const refusals = await this.refusalsOf(submission)
    if (refusals.length > 0) return { kind: 'refused', refusals }
    const job = await this.newJob(submission)
    // The slot is taken as late as can be: right before the accept's transaction.
    const offer = this.deps.offerClaim?.()
    if (offer)
      job.claimBy = {
        workerId: offer.workerId,
        leaseMs: offer.leaseMs,
        committed: (accepted) => offer.committed(accepted),
      }
    let result: AcceptResult
    try {
      result = await this.deps.store.acceptJob(job)
    } catch (error) {
      offer?.declined()
      throw error
    }
    // Committed from here on: nothing below may throw (the client must hear of its job).
    if (result.kind !== 'created') offer?.declined()
    if (result.kind === 'idempotency_conflict') return { kind: 'key_reused', jobId: result.job.id }
    if (result.kind === 'existing') return { kind: 'replayed', job: result.job }
    try {
      offer?.accepted(result.job)
      this.deps.onAccepted(result.job)
    } catch (err) {
      // A missed wake-up only delays the job to the worker's next poll (or, leased, its lease).
      this.deps.logger.warn({ err, job_id: result.job.id }, 'accepted a job but could not wake the worker')
    }
    return { kind: 'created', job: result.job }
  }

  /**
   * The first of the callback guard's two checks: a literal or a name whose addresses are
   * refused is turned away now. A lookup that fails outright is not a verdict.
   */
  private async refusalsOf(s: Submission): Promise<Refusal[]> {
    const refusals: Refusal[] = []
    if (
      s.metadata !== undefined &&
      Buffer.byteLength(JSON.stringify(s.metadata)) > this.deps.metadataMaxBytes
    )
      refusals.push({
        field: 'metadata',
        message: `must be at most ${this.deps.metadataMaxBytes} bytes as JSON`,
      })
    const hosts = s.settings.allowedCallbackHosts
    if (hosts !== null && !callbackHostAllowed(s.callbackUrl, hosts))
      refusals.push({
        field: 'callback_url',
        message: 'is refused: host not in this client’s allowed_callback_hosts',
      })
    for (const p of callbackHeaderProblems(s.callbackHeaders ?? {}))
      refusals.push({
        field: 'callback_headers',
        ...(p.name === '' ? {} : { header: p.name }),
        message: p.message,
      })
    const verdict = await this.deps.checkCallbackUrl(s.callbackUrl).catch(() => ({ ok: true }) as const)
    if (!verdict.ok) refusals.push({ field: 'callback_url', message: `is refused: ${verdict.reason}` })
    if (s.llm !== undefined)
      for (const p of checkLlmParameters(s.llm)) refusals.push({ field: `llm${p.field}`, message: p.message })
    return refusals
  }

  /** The request's parameters with the configured defaults filled in: what every attempt sends. */
  private parametersOf(llm: LlmParameters | undefined): LlmParameters | null {
    const { temperature, maxTokens } = this.deps.defaultParameters
    const filled: LlmParameters = { ...llm }
    if (filled.temperature === undefined && temperature !== undefined) filled.temperature = temperature
    if (filled.max_tokens === undefined && maxTokens !== undefined) filled.max_tokens = maxTokens
    return Object.keys(filled).length === 0 ? null : filled
  }

  private async newJob(s: Submission): Promise<NewJob> {
    const id = this.deps.newId()
    const headers = s.callbackHeaders
    const given = headers !== undefined && Object.keys(headers).length > 0
    return {
      id,
      callbackHeaders: given
        ? await this.deps.encryption.seal(JSON.stringify(headers), callbackHeadersContext(id))
        : null,
      callbackHeaderNames: given ? callbackHeaderNames(headers) : [],
      owner: s.owner,
      conversationId: conversationIdFor(s),
      message: s.message,
      callbackUrl: s.callbackUrl,
      model: s.model ?? s.settings.model ?? this.deps.defaultModel,
      systemPrompt: s.systemPrompt ?? s.settings.systemPrompt ?? this.deps.defaultSystemPrompt,
      metadata: s.metadata ?? null,
      llm: this.parametersOf(s.llm),
      idempotencyKey: s.idempotencyKey,
      // Only a replay under the same key is compared with it.
      requestHash: s.idempotencyKey === null ? '' : requestHash(s),
      traceContext: s.traceContext ?? null,
      now: this.deps.clock.now(),
    }
  }
}
