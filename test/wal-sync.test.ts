import { expect, test } from 'bun:test'
import { GroupCommit } from '../src/store/group-commit.ts'
import { WalSync } from '../src/store/wal-sync.ts'
import { walDatabasesAfterEach } from './support/wal-database.ts'

/*
 * The group commit over a WAL committed with synchronous = NORMAL and fsynced by WalSync: a
 * `synced` write is acknowledged only after an fsync that began after its commit; a
 * `committed` one (a claim, a lease renewal) as soon as every reader sees it. WalSync runs
 * fast fsyncs on the event loop and slow ones on the thread pool; each test says which.
 */

const walDatabase = walDatabasesAfterEach()

function open(onTheLoopBelowMs: number) {
  const { db, path } = walDatabase('CREATE TABLE t (v TEXT)')
  const wal = new WalSync(path, onTheLoopBelowMs)
  // A spy on the real syncer: what happened, in order.
  const events: string[] = []
  const sync = wal.sync.bind(wal)
  wal.sync = (done, meanwhile) => {
    events.push('fsync asked')
    sync((error) => {
      events.push('fsync done')
      done(error)
    }, meanwhile)
  }
  const writes = new GroupCommit(db, wal)
  const insert = (v: string) => () => db.query('INSERT INTO t (v) VALUES (?)').run(v)
  return { db, wal, writes, events, insert }
}

test('on the thread pool: a synced write is acknowledged after the fsync that followed its commit; a committed one at its commit', async () => {
  const { db, wal, writes, events, insert } = open(0)
  const synced = writes.run(insert('accept')).then(() => events.push('synced write settled'))
  const committed = writes
    .run(insert('claim'), 'committed')
    .then(() => events.push('committed write settled'))
  await Promise.all([synced, committed])
  // The fsync is asked for as the batch commits; the claim does not wait for it, the accept does.
  expect(events).toEqual(['fsync asked', 'committed write settled', 'fsync done', 'synced write settled'])
  expect(db.query('SELECT v FROM t ORDER BY rowid').all()).toEqual([{ v: 'accept' }, { v: 'claim' }])
  await wal.close()
  db.close()
})

test('on the event loop (a fast disk): the fsync runs as the batch commits, and both writes settle after it', async () => {
  const { db, wal, writes, events, insert } = open(Number.POSITIVE_INFINITY)
  const synced = writes.run(insert('accept')).then(() => events.push('synced write settled'))
  const committed = writes
    .run(insert('claim'), 'committed')
    .then(() => events.push('committed write settled'))
  await Promise.all([synced, committed])
  expect(events).toEqual(['fsync asked', 'fsync done', 'committed write settled', 'synced write settled'])
  expect(wal.busy).toBe(false)
  await wal.close()
  db.close()
})

test('on the thread pool: writes asked for while an fsync runs wait for it and commit as one batch, covered by the next fsync', async () => {
  const { db, wal, writes, events, insert } = open(0)
  const first = writes.run(insert('one'))
  // Once the first commit is done and its fsync under way, three more come in.
  await new Promise((resolve) => setImmediate(resolve))
  expect(wal.busy).toBe(true)
  const more = ['two', 'three', 'four'].map((v) => writes.run(insert(v)))
  await Promise.all([first, ...more])
  expect(events).toEqual(['fsync asked', 'fsync done', 'fsync asked', 'fsync done'])
  expect(db.query('SELECT COUNT(*) AS n FROM t').get()).toEqual({ n: 4 })
  await wal.close()
  db.close()
})

test('a commit that starts work (a claim at accept) has its fsync run on the thread pool even on a fast disk, so the work goes on meanwhile', async () => {
  const { db, wal, writes, events, insert } = open(Number.POSITIVE_INFINITY)
  const accepted = writes
    .run(insert('accept'), 'synced', () => {
      events.push('committed: work starts')
      // What the work does next waits for the loop, as an LLM call's preparation does.
      queueMicrotask(() => events.push('work goes on'))
    })
    .then(() => events.push('synced write settled'))
  await accepted
  // On the loop (the test above) the fsync would be done before the work could go on.
  expect(events).toEqual([
    'committed: work starts',
    'fsync asked',
    'work goes on',
    'fsync done',
    'synced write settled',
  ])
  await wal.close()
  db.close()
})
