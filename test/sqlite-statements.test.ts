import { Database } from 'bun:sqlite'
import { expect, test } from 'bun:test'
import { StoreDatabase } from '../src/store/sqlite-database.ts'

test('every statement the store asks for stays prepared, past bun:sqlite’s 20-statement cache', () => {
  const db = new StoreDatabase(':memory:')
  const first = db.query('SELECT 0')
  for (let i = 1; i < 40; i++) db.query(`SELECT ${i}`)
  expect(db.query('SELECT 0')).toBe(first)
  // The plain Database re-prepares it: the cache this class exists to replace.
  const plain = new Database(':memory:')
  const plainFirst = plain.query('SELECT 0')
  for (let i = 1; i < 40; i++) plain.query(`SELECT ${i}`)
  expect(plain.query('SELECT 0')).not.toBe(plainFirst)
  db.close()
  plain.close()
})
