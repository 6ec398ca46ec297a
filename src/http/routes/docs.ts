import { Elysia } from 'elysia'
import swaggerCss from 'swagger-ui-dist/swagger-ui.css' with { type: 'file' }
// Embedded into the compiled binary: the docs page works offline, without a CDN.
import swaggerBundle from 'swagger-ui-dist/swagger-ui-bundle.js' with { type: 'file' }
import { notFound } from '../problem.ts'

const ASSETS: Record<string, { path: string; type: string }> = {
  'swagger-ui.css': { path: swaggerCss, type: 'text/css; charset=utf-8' },
  'swagger-ui-bundle.js': { path: swaggerBundle, type: 'text/javascript; charset=utf-8' },
}

function page(title: string): string {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8" />
  <meta name="viewport" content="width=device-width, initial-scale=1" />
  <title>${title}</title>
  <link rel="stylesheet" href="/swagger/assets/swagger-ui.css" />
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/swagger/assets/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({ url: '/swagger/json', dom_id: '#swagger-ui', deepLinking: true })
  </script>
</body>
</html>`
}

/** Swagger UI at /swagger, served from the files the binary carries. */
export function docsRoutes(title: string) {
  const html = page(title)
  return new Elysia({ name: 'docs' })
    .get('/swagger', () => new Response(html, { headers: { 'content-type': 'text/html; charset=utf-8' } }), {
      detail: { hide: true },
    })
    .get(
      '/swagger/assets/:name',
      ({ params }) => {
        const asset = ASSETS[params.name]
        if (!asset) throw notFound('No such docs asset.')
        return new Response(Bun.file(asset.path), {
          headers: { 'content-type': asset.type, 'cache-control': 'public, max-age=86400' },
        })
      },
      { detail: { hide: true } },
    )
}
