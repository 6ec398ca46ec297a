/** Two tools as a request's `llm.tools` gives them, and the client's answer to their calls. */

export const TOOLS = [
  {
    type: 'function',
    function: {
      name: 'get_order',
      description: 'Look an order up by its number.',
      parameters: { type: 'object', properties: { number: { type: 'string' } }, required: ['number'] },
    },
  },
  {
    type: 'function',
    function: {
      name: 'get_weather',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  },
]

export function submitResults(
  url: string,
  id: string,
  results: { tool_call_id: string; content: string }[] | unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${url}/jobs/${id}/tool_results`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(Array.isArray(results) ? { results } : results),
  })
}
