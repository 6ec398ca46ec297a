/** @jsxImportSource @kitajs/html */
import type { SignInView } from '../views.ts'
import { CsrfField } from './parts.tsx'

export function SignInPage(props: { view: SignInView; csrf: string }) {
  return (
    <section class="panel sign-in">
      <h1>Sign in</h1>
      <p class="muted">
        Use an API key of this relay. A client key shows that client’s jobs; an admin key shows all.
      </p>
      {props.view.failed ? (
        <p class="notice tone-fail" role="alert">
          That key is not valid.
        </p>
      ) : (
        ''
      )}
      <form method="post" action={props.view.action}>
        <CsrfField token={props.csrf} />
        <label class="stack">
          <span>API key</span>
          <input type="password" name="key" autocomplete="off" required autofocus maxlength="512" />
        </label>
        <button type="submit" class="button primary wide">
          Sign in
        </button>
      </form>
    </section>
  )
}
