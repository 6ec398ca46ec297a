// Files imported `with { type: 'file' }` resolve to a path (embedded in the compiled binary).
declare module 'swagger-ui-dist/*' {
  const path: string
  export default path
}
declare module 'htmx.org/dist/*' {
  const path: string
  export default path
}
declare module '*.css' {
  const path: string
  export default path
}
// Files imported `with { type: 'text' }` are their text (embedded in the compiled binary).
declare module '*.tiktoken' {
  const text: string
  export default text
}
