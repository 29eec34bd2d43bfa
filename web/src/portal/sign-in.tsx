// Signing in without a session: the customer types their email address and
// asks for a link; the page then says to check their email, whatever the
// service answered about the address (its answer is the same whether or not
// anyone has it, so the page can tell nobody who is a customer). Only a
// refusal that says nothing about the address is shown instead: the address
// is not one (400), too many requests (429), the network or the service
// failing (no link was sent).

import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, type PublicPortalApi } from './api.js';
import { fieldMessage, messageOf } from './errors.js';

interface SignInProps {
  api: PublicPortalApi;
  organizationId: string;
  organizationName: string;
  /** Why the customer is here again ("Your session has ended."), or null. */
  notice: string | null;
}

type Phase = { kind: 'form' } | { kind: 'sending' } | { kind: 'sent'; email: string };

export function SignIn(props: SignInProps) {
  const { api, organizationId } = props;
  const [email, setEmail] = useState('');
  const [phase, setPhase] = useState<Phase>({ kind: 'form' });
  const [emailError, setEmailError] = useState('');
  const [formError, setFormError] = useState('');
  const sentHeading = useRef<HTMLHeadingElement>(null);
  const input = useRef<HTMLInputElement>(null);

  const heading = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    if (phase.kind === 'sent') sentHeading.current?.focus();
  }, [phase.kind]);

  useEffect(() => {
    // Back here from the portal (signed out, or the session ended): the
    // focus was in the page that is gone.
    if (props.notice) heading.current?.focus();
  }, [props.notice]);

  async function submit(event: Event): Promise<void> {
    event.preventDefault();
    if (phase.kind === 'sending') return;
    const address = email.trim();
    setFormError('');
    if (!address || !/^[^\s@]+@[^\s@]+$/.test(address)) {
      setEmailError('Enter your email address, like name@example.com.');
      input.current?.focus();
      return;
    }
    setEmailError('');
    setPhase({ kind: 'sending' });
    try {
      await api.requestSignIn(organizationId, address);
      setPhase({ kind: 'sent', email: address });
    } catch (error) {
      const status = error instanceof ApiError ? error.status : null;
      const onField = status ? fieldMessage(status, 'email') : '';
      if (status === null || status.httpStatus === 0 || status.httpStatus === 429 || status.httpStatus >= 500) {
        setFormError(status ? messageOf(status) : 'Something went wrong. Please try again.');
        setPhase({ kind: 'form' });
      } else if (onField) {
        setEmailError(onField);
        setPhase({ kind: 'form' });
        input.current?.focus();
      } else if (status.reason === 'ORGANIZATION_NOT_FOUND') {
        setFormError(messageOf(status));
        setPhase({ kind: 'form' });
      } else {
        setPhase({ kind: 'sent', email: address });
      }
    }
  }

  if (phase.kind === 'sent') {
    return (
      <section class="panel narrow" aria-labelledby="sent-heading">
        <h1 id="sent-heading" tabIndex={-1} ref={sentHeading}>
          Check your email
        </h1>
        <p role="status">
          If <strong>{phase.email}</strong> belongs to an account here, a sign-in link is on its way. It works once,
          within 15 minutes.
        </p>
        <p class="muted">No email after a few minutes? Check your spam folder, or try again.</p>
        <button
          type="button"
          class="secondary"
          onClick={() => {
            setPhase({ kind: 'form' });
            window.setTimeout(() => input.current?.focus(), 0);
          }}
        >
          Use another address
        </button>
      </section>
    );
  }

  const sending = phase.kind === 'sending';
  return (
    <section class="panel narrow" aria-labelledby="sign-in-heading">
      <h1 id="sign-in-heading" tabIndex={-1} ref={heading}>
        Sign in
      </h1>
      <p>
        Manage your subscriptions, cards, invoices and license keys
        {props.organizationName ? ` with ${props.organizationName}` : ''}. We email you a link to sign in: no password
        needed.
      </p>
      {props.notice && (
        <p class="notice-box" role="alert">
          {props.notice}
        </p>
      )}
      <form onSubmit={(event) => void submit(event)} noValidate aria-describedby="sign-in-error">
        <div class="field">
          <label for="sign-in-email">Email</label>
          <input
            ref={input}
            id="sign-in-email"
            type="email"
            name="email"
            autocomplete="email"
            required
            value={email}
            aria-invalid={emailError ? true : undefined}
            aria-describedby="sign-in-email-error"
            onInput={(event) => setEmail(event.currentTarget.value)}
          />
          <p id="sign-in-email-error" class="field-error" aria-live="polite">
            {emailError}
          </p>
        </div>
        <p id="sign-in-error" class="form-error" aria-live="polite">
          {formError}
        </p>
        <button type="submit" class="primary" disabled={sending} aria-busy={sending}>
          {sending ? 'Sending…' : 'Email me a sign-in link'}
        </button>
      </form>
    </section>
  );
}
