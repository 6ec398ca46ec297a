export interface Posted {
  message: string
  /** performance.now() when the 202 arrived. */
  accepted: number
}

export interface PostSpec {
  /** The relay's base URL. */
  url: string
  callbackUrl: string
  /** Names this batch's messages and conversations apart from other batches'. */
  run: string
  jobs: number
  /** Job i joins conversation i % conversations. */
  conversations: number
  /** Client connections posting at once. */
  posters: number
}

async function post(spec: PostSpec, i: number): Promise<Posted> {
  const message = `${spec.run} ${i}`
  const response = await fetch(`${spec.url}/webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      message,
      callback_url: spec.callbackUrl,
      conversation_id: `${spec.run}-${i % spec.conversations}`,
    }),
  })
  const accepted = performance.now()
  if (response.status !== 202)
    throw new Error(`expected 202, got ${response.status}: ${await response.text()}`)
  await response.arrayBuffer()
  return { message, accepted }
}

/** Posts `jobs` jobs from `posters` connections, each as soon as the one before it on its connection is accepted. */
export async function postJobs(spec: PostSpec): Promise<Posted[]> {
  const posted: Posted[] = []
  let next = 0
  await Promise.all(
    Array.from({ length: spec.posters }, async () => {
      while (next < spec.jobs) {
        const i = next++
        posted[i] = await post(spec, i)
      }
    }),
  )
  return posted
}
