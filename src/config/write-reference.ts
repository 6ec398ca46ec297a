/**
 * `bun run docs:config`: rewrites .env.example and the README's table from the config. A script of
 * its own: a top-level await in reference.ts would keep `bun build --bytecode` from compiling the CLI.
 */
import { renderEnvExample, withConfigTable } from './reference.ts'

const root = new URL('../../', import.meta.url)
await Bun.write(new URL('.env.example', root), renderEnvExample())
const readme = new URL('README.md', root)
await Bun.write(readme, withConfigTable(await Bun.file(readme).text()))
