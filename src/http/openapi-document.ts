type Operation = { responses?: Record<string, { content?: Record<string, unknown> }> }

/**
 * The generator files every response under application/json; ours say what they send:
 * problems as application/problem+json, 204 with no body.
 */
export function correctOpenApiDocument(document: unknown): unknown {
  const paths = (document as { paths?: Record<string, Record<string, Operation>> }).paths ?? {}
  for (const operations of Object.values(paths)) {
    for (const operation of Object.values(operations)) {
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        if (status === '204') delete response.content
        const json = response.content?.['application/json']
        if (Number(status) >= 400 && json && response.content) {
          response.content = { 'application/problem+json': json }
        }
      }
    }
  }
  return document
}
