import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
// Embedded into the compiled binary: the console works offline, without a CDN.
import htmxPath from 'htmx.org/dist/htmx.min.js' with { type: 'file' }
import cssPath from './assets/console.css' with { type: 'file' }

export interface Asset {
  body: Uint8Array
  type: string
}

/**
 * The console's two files, read once and served from memory under names that carry their
 * content hash, so browsers may keep them for good and still see a new version at once.
 */
export function loadConsoleAssets(): { paths: { css: string; js: string }; byName: Map<string, Asset> } {
  const byName = new Map<string, Asset>()
  const add = (stem: string, ext: string, path: string, type: string): string => {
    const body = new Uint8Array(readFileSync(path))
    const name = `${stem}.${createHash('sha256').update(body).digest('hex').slice(0, 12)}.${ext}`
    byName.set(name, { body, type })
    return `/console/assets/${name}`
  }
  return {
    paths: {
      css: add('console', 'css', cssPath, 'text/css; charset=utf-8'),
      js: add('htmx', 'js', htmxPath, 'text/javascript; charset=utf-8'),
    },
    byName,
  }
}
