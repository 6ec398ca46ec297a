/** @jsxImportSource @kitajs/html */
import type { MessageView } from '../views.ts'

/** A page that only says something: not found, not allowed. */
export function MessagePage(props: { view: MessageView }) {
  const v = props.view
  return (
    <section class="panel message-page">
      <h1 safe>{v.heading}</h1>
      <p class="message-text" safe>
        {v.text}
      </p>
      {v.back ? (
        <a class="button plain" href={v.back.href} safe>
          {v.back.label}
        </a>
      ) : (
        ''
      )}
    </section>
  )
}
