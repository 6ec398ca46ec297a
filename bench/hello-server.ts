/** The start-time baseline: the smallest Bun server answering /health, compiled like the relay. */
const server = Bun.serve({
  hostname: '127.0.0.1',
  port: Number(process.env.PORT ?? 0),
  fetch: () => Response.json({ status: 'ok' }),
})
console.log(JSON.stringify({ url: server.url.toString() }))
