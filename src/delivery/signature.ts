import { createHmac } from 'node:crypto'

/**
 * Standard Webhooks signing: `v1,` + base64(HMAC-SHA256(key, `${id}.${timestamp}.${body}`)),
 * where the key is the base64 after `whsec_`. https://www.standardwebhooks.com
 */
export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64')
  const mac = createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64')
  return `v1,${mac}`
}

/**
 * The `webhook-signature` value for several secrets (a rotation's grace: the new one first):
 * signatures separated by spaces, as the spec allows; a receiver accepts the message when any
 * of them verifies with the secret it holds.
 */
export function signWebhookWithEach(
  secrets: readonly string[],
  id: string,
  timestampSeconds: number,
  body: string,
): string {
  return secrets.map((secret) => signWebhook(secret, id, timestampSeconds, body)).join(' ')
}
