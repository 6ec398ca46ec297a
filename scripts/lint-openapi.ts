/**
 * `bun run lint:openapi`: Redocly's recommended rules on the document the relay serves; any
 * error or warning fails. Runs offline: no telemetry, no update check.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { dumpOpenApiDocument } from './openapi-dump.ts'

const root = join(import.meta.dir, '..')
const dir = mkdtempSync(join(tmpdir(), 'llm-relay-openapi-lint-'))
const file = join(dir, 'openapi.json')
let code = 1
try {
  await Bun.write(file, JSON.stringify(await dumpOpenApiDocument(), null, 2))
  const lint = Bun.spawn(
    ['bun', '--bun', join(root, 'node_modules/@redocly/cli/bin/cli.js'), 'lint', file, '--format=json'],
    {
      cwd: root,
      stdout: 'pipe',
      stderr: 'pipe',
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
    },
  )
  const [out, err, exit] = await Promise.all([
    new Response(lint.stdout).text(),
    new Response(lint.stderr).text(),
    lint.exited,
  ])
  const start = out.indexOf('{')
  const report = start === -1 ? undefined : (JSON.parse(out.slice(start)) as Report)
  if (!report) {
    process.stderr.write(`redocly lint gave no report (exit ${exit}):\n${out}${err}`)
  } else {
    for (const p of report.problems)
      console.log(`${p.severity} ${p.ruleId} at ${p.location[0]?.pointer ?? '?'}: ${p.message}`)
    const { errors, warnings } = report.totals
    console.log(`redocly lint (recommended): ${errors} errors, ${warnings} warnings`)
    code = errors === 0 && warnings === 0 && exit === 0 ? 0 : 1
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
process.exit(code)

interface Report {
  totals: { errors: number; warnings: number; ignored: number }
  problems: { ruleId: string; severity: string; message: string; location: { pointer?: string }[] }[]
}
