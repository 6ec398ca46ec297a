import { expect, test } from 'bun:test'
import { GroupCommit } from '../src/store/group-commit.ts'
import { WalSync } from '../src/store/wal-sync.ts'
import { walDatabasesAfterEach } from './support/wal-database.ts'

/*
 * A batch of the group commit runs without savepoints while none of its writes throws; when
 * one does, the batch is undone and run again, each write in a savepoint of its own, so the
 * write that threw fails alone and the others commit once. On a real SQLite file.
 */

const walDatabase = walDatabasesAfterEach()

function open() {
  const { db, path } = walDatabase('CREATE TABLE t (v TEXT NOT NULL UNIQUE)')
  const writes = new GroupCommit(db, new WalSync(path))
  const insert = (v: string) => () => db.query('INSERT INTO t (v) VALUES (?) RETURNING v').get(v)
  const rows = () =>
    db
      .query<{ v: string }, []>('SELECT v FROM t ORDER BY rowid')
      .all()
      .map((r) => r.v)
  return { db, writes, insert, rows }
}

test('writes of one turn commit together, each hears its own value', async () => {
  const { writes, insert, rows } = open()
  const results = await Promise.all([
    writes.run(insert('a')),
    writes.run(insert('b')),
    writes.run(insert('c')),
  ])
  expect(results).toEqual([{ v: 'a' }, { v: 'b' }, { v: 'c' }])
  expect(rows()).toEqual(['a', 'b', 'c'])
})

test('a write that throws fails alone: the others of its batch commit, once each', async () => {
  const { writes, insert, rows } = open()
  await writes.run(insert('taken'))
  let runsOfFirst = 0
  const first = writes.run(() => {
    runsOfFirst++
    return insert('a')()
  })
  const clash = writes.run(insert('taken'))
  const third = writes.run(insert('c'))
  expect(await first).toEqual({ v: 'a' })
  await expect(clash).rejects.toThrow(/UNIQUE constraint failed/)
  expect(await third).toEqual({ v: 'c' })
  // Run once without savepoints, undone, and run again in its own savepoint.
  expect(runsOfFirst).toBe(2)
  expect(rows()).toEqual(['taken', 'a', 'c'])
})

test('a batch of one write that throws leaves nothing open; the next batch commits', async () => {
  const { db, writes, insert, rows } = open()
  await writes.run(insert('x'))
  await expect(writes.run(insert('x'))).rejects.toThrow(/UNIQUE constraint failed/)
  expect(db.inTransaction).toBe(false)
  expect(await writes.run(insert('y'))).toEqual({ v: 'y' })
  expect(rows()).toEqual(['x', 'y'])
})

test('a write that undoes the transaction itself fails its whole batch, and the next batch starts clean', async () => {
  const { db, writes, insert, rows } = open()
  const before = writes.run(insert('a'))
  // A ROLLBACK inside a write ends the transaction: no savepoint can keep the rest.
  const ender = writes.run(() => {
    db.exec('ROLLBACK')
    throw new Error('ended the transaction')
  })
  const [a, b] = await Promise.allSettled([before, ender])
  expect(a).toMatchObject({ status: 'rejected', reason: { message: 'ended the transaction' } })
  expect(b).toMatchObject({ status: 'rejected', reason: { message: 'ended the transaction' } })
  expect(db.inTransaction).toBe(false)
  expect(await writes.run(insert('b'))).toEqual({ v: 'b' })
  expect(rows()).toEqual(['b'])
})

test('a write hears of its commit before it settles; a failing write never does, and a throwing listener changes nothing', async () => {
  const { writes, insert, rows } = open()
  await writes.run(insert('taken'))
  const heard: unknown[] = []
  const kept = writes.run(insert('a'), 'synced', (value) => heard.push(value))
  const clash = writes.run(insert('taken'), 'synced', (value) => heard.push(value))
  const loud = writes.run(insert('b'), 'committed', () => {
    throw new Error('the listener failed')
  })
  const [a, b, c] = await Promise.allSettled([kept, clash, loud])
  expect(a).toEqual({ status: 'fulfilled', value: { v: 'a' } })
  expect(b).toMatchObject({
    status: 'rejected',
    reason: { message: expect.stringMatching(/UNIQUE constraint failed/) },
  })
  expect(c).toEqual({ status: 'fulfilled', value: { v: 'b' } })
  expect(heard).toEqual([{ v: 'a' }])
  expect(rows()).toEqual(['taken', 'a', 'b'])
})
