import { expect, test } from 'bun:test'
import { createLogger } from '../src/log.ts'
import { infoLine } from '../src/log-line.ts'

function capture(level: 'info' | 'warn' = 'info') {
  const lines: string[] = []
  const logger = createLogger(level, { write: (line: string) => lines.push(line) })
  return { logger, lines }
}

const withoutTime = (line: string | undefined) => (line ?? '').replace(/"time":"[^"]+"/, '"time":"T"')

test('a line built by infoLine is the line pino writes for the same fields, byte for byte but the time', () => {
  const { logger, lines } = capture()
  const child = logger.child({ job_id: 'j-1', attempt: 2 })
  const fields = {
    request_id: 'r-1',
    status: 202,
    ms: 1.25,
    accepted: true,
    gone: null,
    left_out: undefined,
    text: 'a "quoted" line\nwith a break and ünïcode',
  }
  for (const log of [logger, child]) {
    log.info(fields, 'request "x"')
    infoLine(log, fields, 'request "x"')
  }
  expect(lines).toHaveLength(4)
  expect(withoutTime(lines[1])).toBe(withoutTime(lines[0]))
  expect(withoutTime(lines[3])).toBe(withoutTime(lines[2]))
  expect(JSON.parse(lines[3] as string)).toMatchObject({
    job_id: 'j-1',
    attempt: 2,
    text: fields.text,
    gone: null,
  })
  expect(JSON.parse(lines[3] as string)).not.toHaveProperty('left_out')
})

test('infoLine censors secret fields as the logger does, and writes nothing above info', () => {
  const { logger, lines } = capture()
  infoLine(
    logger,
    { path: '/webhook', Authorization: 'Bearer sk-live-123', api_key: 'sk-live-456' },
    'request',
  )
  expect(lines[0]).not.toContain('sk-live')
  expect(JSON.parse(lines[0] as string)).toMatchObject({ Authorization: '[redacted]', api_key: '[redacted]' })
  const quiet = capture('warn')
  infoLine(quiet.logger, { path: '/webhook' }, 'request')
  expect(quiet.lines).toEqual([])
})
