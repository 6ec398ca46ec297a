import { Elysia, t } from 'elysia'
import type { ClientService } from '../../clients/client-service.ts'
import type { ClientPatch, ClientRecord } from '../../store/client-store.ts'
import { adminOnly } from '../admin-only.ts'
import {
  ClientList,
  ClientParams,
  ClientPatchBody,
  ClientView,
  CreatedClient,
  NewClientBody,
  RotatedKey,
  RotatedSecret,
} from '../client-schemas.ts'
import { Problem, problems } from '../problem.ts'
import { readJsonBody } from '../request-body.ts'

export interface ClientsDeps {
  clients: ClientService
  /** Whether the request's key is an ADMIN_API_KEYS one. */
  isAdmin: (request: Request) => boolean
  maxBodyBytes: number
}

const iso = (ms: number): string => new Date(ms).toISOString()

function viewOf(c: ClientRecord) {
  return {
    id: c.id,
    name: c.name,
    allowed_callback_hosts: c.allowedCallbackHosts,
    rate_limit: c.rateLimit,
    llm_rpm: c.llmRpm,
    daily_token_budget: c.dailyTokenBudget,
    model: c.model,
    system_prompt: c.systemPrompt,
    disabled: c.disabled,
    previous_secret_valid_until: c.previousValidUntil === null ? null : iso(c.previousValidUntil),
    created_at: iso(c.createdAt),
    updated_at: iso(c.updatedAt),
  }
}

function patchOf(body: ClientPatchBody): ClientPatch {
  return {
    name: body.name,
    disabled: body.disabled,
    allowedCallbackHosts: body.allowed_callback_hosts,
    rateLimit: body.rate_limit,
    llmRpm: body.llm_rpm,
    dailyTokenBudget: body.daily_token_budget,
    model: body.model,
    systemPrompt: body.system_prompt,
  }
}

const nameTaken = (name: string | undefined) =>
  new Problem(409, `A client named ${name ?? 'so'} exists already; pick another name.`)

const notFound = (id: string) => new Problem(404, `No client ${id}.`)

const tags = ['Clients']

/**
 * The operators' routes for clients: an ADMIN_API_KEYS key only (403 for a client's key, after
 * the rate limit counted it, so a client cannot hammer these routes for free).
 */
export function clientRoutes(deps: ClientsDeps) {
  const requireAdmin = adminOnly(deps.isAdmin, 'Managing clients')
  const body = [
    async ({ request }: { request: Request }) => readJsonBody(request, deps.maxBodyBytes),
    'json',
  ] as const
  return new Elysia({ name: 'clients' })
    .onBeforeHandle({ as: 'local' }, ({ request }) => requireAdmin(request))
    .post(
      '/clients',
      async ({ body, status }) => {
        const created = await deps.clients.create({
          name: body.name,
          allowedCallbackHosts: body.allowed_callback_hosts,
          rateLimit: body.rate_limit,
          llmRpm: body.llm_rpm,
          dailyTokenBudget: body.daily_token_budget,
          model: body.model,
          systemPrompt: body.system_prompt,
        })
        if (created === 'name_taken') throw nameTaken(body.name)
        return status(201, {
          ...viewOf(created.client),
          api_key: created.apiKey,
          signing_secret: created.signingSecret,
        })
      },
      {
        parse: [...body],
        body: NewClientBody,
        response: { 201: CreatedClient, ...problems(400, 403, 409, 413, 415, 422) },
        detail: {
          tags,
          summary: 'Create a client',
          description:
            'A client with an API key and a signing secret of its own. Both are in this answer only: the key is kept as its SHA-256, the secret encrypted when `DATA_ENCRYPTION_KEY` is set. Its jobs and conversations are its own; its callbacks are signed with its secret.',
        },
      },
    )
    .get('/clients', async () => ({ clients: (await deps.clients.list()).map(viewOf) }), {
      response: { 200: ClientList, ...problems(403) },
      detail: { tags, summary: 'List clients', description: 'Every client not deleted, oldest first.' },
    })
    .get(
      '/clients/:id',
      async ({ params }) => {
        const client = await deps.clients.get(params.id)
        if (!client) throw notFound(params.id)
        return viewOf(client)
      },
      {
        params: ClientParams,
        response: { 200: ClientView, ...problems(403, 404) },
        detail: { tags, summary: 'Read a client', description: 'Its settings; never its key or secret.' },
      },
    )
    .patch(
      '/clients/:id',
      async ({ params, body }) => {
        const updated = await deps.clients.update(params.id, patchOf(body))
        if (updated === 'name_taken') throw nameTaken(body.name)
        if (!updated) throw notFound(params.id)
        return viewOf(updated)
      },
      {
        parse: [...body],
        params: ClientParams,
        body: ClientPatchBody,
        response: { 200: ClientView, ...problems(400, 403, 404, 409, 413, 415, 422) },
        detail: {
          tags,
          summary: 'Change a client',
          description:
            'Only the fields sent change. A disabled client’s key gets 403 (on other instances of a fleet within 5 s).',
        },
      },
    )
    .delete(
      '/clients/:id',
      async ({ params, status }) => {
        if (!(await deps.clients.delete(params.id))) throw notFound(params.id)
        return status(204, undefined)
      },
      {
        params: ClientParams,
        response: { 204: t.Void({ description: 'Deleted.' }), ...problems(403, 404) },
        detail: {
          tags,
          summary: 'Delete a client',
          description:
            'Its key stops working (on other instances of a fleet within 5 s). Its jobs already accepted are still answered and signed with its secret; its name is free again.',
        },
      },
    )
    .post(
      '/clients/:id/rotate-key',
      async ({ params }) => {
        const apiKey = await deps.clients.rotateKey(params.id)
        if (apiKey === undefined) throw notFound(params.id)
        return { api_key: apiKey }
      },
      {
        params: ClientParams,
        response: { 200: RotatedKey, ...problems(403, 404) },
        detail: {
          tags,
          summary: 'Give a client a new API key',
          description:
            'The old key stops working at once (on other instances of a fleet within 5 s); the new one is in this answer only.',
        },
      },
    )
    .post(
      '/clients/:id/rotate-secret',
      async ({ params }) => {
        const rotated = await deps.clients.rotateSecret(params.id)
        if (!rotated) throw notFound(params.id)
        return {
          signing_secret: rotated.signingSecret,
          previous_valid_until: iso(rotated.previousValidUntil),
        }
      },
      {
        params: ClientParams,
        response: { 200: RotatedSecret, ...problems(403, 404) },
        detail: {
          tags,
          summary: 'Give a client a new signing secret',
          description:
            'From the next callback attempt on, its callbacks carry two signatures, `webhook-signature: v1,<new> v1,<old>`, until `previous_valid_until` (`CALLBACK_SECRET_GRACE` from now); then only the new one. A Standard Webhooks receiver accepts a message if any signature verifies, so it can switch to the new secret at any time in between.',
        },
      },
    )
}
