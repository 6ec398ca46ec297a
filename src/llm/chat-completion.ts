import type OpenAI from 'openai'
import type { RawToolCall } from '../answer/tool-calls.ts'
import type { Usage } from '../job.ts'
import type { ChatMessage, LlmAnswer, LlmFailure, LlmRequest } from './llm.ts'

/**
 * The chat completion call as JSON, both ways: the body the relay sends (the job's stored
 * parameters, unchanged on every attempt) and what it reads from the answer (text or tool
 * calls, usage with OpenRouter's cost).
 */

/** OpenRouter's extensions of the OpenAI body. */
export type CompletionBody = OpenAI.Chat.ChatCompletionCreateParamsNonStreaming & {
  models?: string[]
  reasoning?: unknown
  usage?: { include: boolean }
}

export interface BodyOptions {
  fallbackModels: readonly string[]
  /** Ask for `usage.cost` (OpenRouter's usage accounting); other APIs refuse the field. */
  usageAccounting: boolean
}

function wireMessage(m: ChatMessage): OpenAI.Chat.ChatCompletionMessageParam {
  if (m.role === 'tool') return { role: 'tool', tool_call_id: m.toolCallId, content: m.content }
  if (m.role === 'assistant' && m.toolCalls !== undefined && m.toolCalls.length > 0)
    return {
      role: 'assistant',
      content: m.content === '' ? null : m.content,
      tool_calls: m.toolCalls.map((c) => ({
        id: c.id,
        type: 'function',
        function: { name: c.name, arguments: c.arguments },
      })),
    }
  return { role: m.role, content: m.content }
}

export function completionBody(request: LlmRequest, options: BodyOptions): CompletionBody {
  const body: CompletionBody = { model: request.model, messages: request.messages.map(wireMessage) }
  // OpenRouter's model fallbacks: https://openrouter.ai/docs/features/model-routing
  if (options.fallbackModels.length > 0) body.models = [request.model, ...options.fallbackModels]
  const p = request.parameters
  if (p !== undefined) {
    if (p.temperature !== undefined) body.temperature = p.temperature
    if (p.top_p !== undefined) body.top_p = p.top_p
    if (p.max_tokens !== undefined) body.max_tokens = p.max_tokens
    if (p.stop !== undefined) body.stop = p.stop
    if (p.seed !== undefined) body.seed = p.seed
    // OpenRouter's unified reasoning parameter: https://openrouter.ai/docs/use-cases/reasoning-tokens
    if (p.reasoning !== undefined) body.reasoning = p.reasoning
    if (p.response_format !== undefined)
      body.response_format = p.response_format as OpenAI.Chat.ChatCompletionCreateParams['response_format']
    if (p.tools !== undefined) body.tools = p.tools as OpenAI.Chat.ChatCompletionTool[]
    if (p.tool_choice !== undefined)
      body.tool_choice = p.tool_choice as OpenAI.Chat.ChatCompletionToolChoiceOption
  }
  // https://openrouter.ai/docs/use-cases/usage-accounting
  if (options.usageAccounting) body.usage = { include: true }
  return body
}

type Completion = OpenAI.Chat.ChatCompletion & { usage?: OpenAI.CompletionUsage & { cost?: unknown } }

function usageOf(completion: Completion): Usage | null {
  const u = completion.usage
  if (!u) return null
  const usage: Usage = {
    prompt_tokens: u.prompt_tokens,
    completion_tokens: u.completion_tokens,
    total_tokens: u.total_tokens,
  }
  if (typeof u.cost === 'number' && Number.isFinite(u.cost) && u.cost >= 0) usage.cost = u.cost
  return usage
}

/** The answer in a completion: its text, or the tools it calls; a failure when it has neither. */
export function readCompletion(
  completion: Completion,
  requestedModel: string,
): { ok: true; answer: LlmAnswer } | { ok: false; failure: LlmFailure } {
  const choice = completion.choices?.[0]
  const message = choice?.message
  const toolCalls: RawToolCall[] = []
  for (const call of message?.tool_calls ?? [])
    if (call.type === 'function')
      toolCalls.push({ id: call.id, name: call.function.name, arguments: call.function.arguments ?? '' })
  const content = typeof message?.content === 'string' ? message.content : ''
  if (content === '' && toolCalls.length === 0) {
    const reason = choice?.finish_reason ? ` (finish_reason: ${choice.finish_reason})` : ''
    return {
      ok: false,
      failure: { code: 'llm_error', retryable: true, message: `The LLM API returned no answer${reason}.` },
    }
  }
  return {
    ok: true,
    answer: { content, toolCalls, model: completion.model || requestedModel, usage: usageOf(completion) },
  }
}

/** Whether the API is OpenRouter's, whose extensions (usage accounting) others refuse. */
export function isOpenRouter(baseUrl: string): boolean {
  const host = URL.canParse(baseUrl) ? new URL(baseUrl).hostname : ''
  return host === 'openrouter.ai' || host.endsWith('.openrouter.ai')
}
