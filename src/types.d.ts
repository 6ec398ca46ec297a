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
