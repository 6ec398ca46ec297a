import type { Store } from '../store/store.ts'

/**
 * The owner to read or act on job `id` as: the caller's own, or, for a caller who sees every
 * owner's (`visible` undefined), the job's. A job that does not exist reads as the caller's
 * own miss, so the answer is the same 404 either way.
 */
export async function ownerForJob(store: Store, visible: string | undefined, id: string): Promise<string> {
  return visible ?? (await store.ownerOfJob(id)) ?? ''
}
