// The customer's subscriptions: each with its product, price, status and
// renewal (or cancel, or end) date; cancel at the period's end (confirmed in
// a dialog), take that back, and change the plan or seats with the
// service's preview of what it bills shown before confirming.

import { useEffect, useRef, useState } from 'preact/hooks';
import type { PublicProduct } from '../shared/catalog.js';
import { fetchProducts } from '../pricing-table/catalog.js';
import type { PortalApi } from './api.js';
import { changeOptions, changeRequestOf, previewView, type ChangeOption } from './changes.js';
import { Badge, Failed, FlashMessage, Loading, problemText, useFlash, useLoad } from './common.js';
import {
  dateText,
  discountText,
  subscriptionActions,
  subscriptionPrice,
  subscriptionStanding,
  subscriptionStatus,
} from './describe.js';
import { Dialog } from './dialog.js';
import type { PortalSubscription, PortalSubscriptionChangePreview } from './types.js';

interface ViewProps {
  api: PortalApi;
  /** The gateway's root (the public catalog is read from it). */
  base: URL;
  organizationId: string;
  locale: string | undefined;
}

type Open = { kind: 'cancel'; subscription: PortalSubscription } | { kind: 'change'; subscription: PortalSubscription };

function headingId(subscription: PortalSubscription): string {
  return `subscription-${subscription.id}`;
}

function focusHeading(subscription: PortalSubscription): HTMLElement | null {
  return document.getElementById(headingId(subscription));
}

export function SubscriptionsView(props: ViewProps) {
  const { api, locale } = props;
  const [loaded, reload] = useLoad(() => api.subscriptions(), [api]);
  const [open, setOpen] = useState<Open | null>(null);
  const [busyId, setBusyId] = useState<string | null>(null);
  const [flash, say] = useFlash();
  // Answers of changes made here, shown until the list is read again.
  const [changed, setChanged] = useState<Record<string, PortalSubscription>>({});

  function updated(subscription: PortalSubscription): void {
    setChanged((shown) => ({ ...shown, [subscription.id]: subscription }));
    void reload().then(() => setChanged({}));
  }

  async function uncancel(subscription: PortalSubscription): Promise<void> {
    setBusyId(subscription.id);
    try {
      const after = await api.uncancel(subscription.id);
      updated(after);
      say(`Your ${after.product_name || 'subscription'} continues. ${subscriptionStanding(after, locale)}.`);
      window.setTimeout(() => focusHeading(after)?.focus(), 0);
    } catch (error) {
      say(problemText(error), true);
    } finally {
      setBusyId(null);
    }
  }

  let body;
  if (loaded.state === 'loading') body = <Loading what="your subscriptions" />;
  else if (loaded.state === 'failed') body = <Failed message={loaded.message} onRetry={() => void reload()} />;
  else if (loaded.data.length === 0) body = <p class="empty">You have no subscriptions.</p>;
  else {
    const subscriptions = loaded.data.map((subscription) => changed[subscription.id] ?? subscription);
    body = (
      <ul class="cards" aria-label="Subscriptions">
        {subscriptions.map((subscription) => (
          <SubscriptionCard
            key={subscription.id}
            subscription={subscription}
            locale={locale}
            busy={busyId === subscription.id}
            onCancel={() => setOpen({ kind: 'cancel', subscription })}
            onUncancel={() => void uncancel(subscription)}
            onChange={() => setOpen({ kind: 'change', subscription })}
          />
        ))}
      </ul>
    );
  }

  return (
    <>
      <FlashMessage flash={flash} />
      {body}
      {open?.kind === 'cancel' && (
        <CancelDialog
          api={api}
          subscription={open.subscription}
          locale={locale}
          onClose={() => setOpen(null)}
          onCanceled={(after) => {
            setOpen(null);
            updated(after);
            const standing = subscriptionStanding(after, locale).replace(/^Cancels/, 'cancels');
            say(`Your ${after.product_name || 'subscription'} ${standing}.`);
          }}
        />
      )}
      {open?.kind === 'change' && (
        <ChangeDialog
          {...props}
          subscription={open.subscription}
          onClose={() => setOpen(null)}
          onChanged={(after) => {
            setOpen(null);
            updated(after);
            say(`Your plan is now ${after.product_name || 'changed'}: ${subscriptionPrice(after, locale)}.`);
          }}
        />
      )}
    </>
  );
}

interface CardProps {
  subscription: PortalSubscription;
  locale: string | undefined;
  busy: boolean;
  onCancel: () => void;
  onUncancel: () => void;
  onChange: () => void;
}

function SubscriptionCard(props: CardProps) {
  const { subscription, locale } = props;
  const status = subscriptionStatus(subscription);
  const actions = subscriptionActions(subscription);
  const discount = discountText(subscription, locale);
  const name = subscription.product_name || 'Subscription';
  const scheduled = subscription.scheduled_change;
  return (
    <li class="card" aria-labelledby={headingId(subscription)}>
      <div class="card-head">
        <h2 class="card-title" id={headingId(subscription)} tabIndex={-1}>
          {name}
        </h2>
        <Badge tone={status.tone}>{status.label}</Badge>
      </div>
      <p class="card-amount">{subscriptionPrice(subscription, locale)}</p>
      <p class="standing">{subscriptionStanding(subscription, locale)}</p>
      {discount && <p class="muted">Discount: {discount}</p>}
      {scheduled && (scheduled.price_id || scheduled.seats) ? (
        <p class="muted">
          A change is scheduled for {dateText(subscription.current_period_end, locale) || 'the next renewal'}.
        </p>
      ) : null}
      {(actions.change || actions.cancel || actions.uncancel) && (
        <div class="actions">
          {actions.change && (
            <button type="button" class="secondary" onClick={props.onChange} aria-describedby={headingId(subscription)}>
              Change plan
            </button>
          )}
          {actions.uncancel && (
            <button
              type="button"
              class="secondary"
              onClick={props.onUncancel}
              disabled={props.busy}
              aria-busy={props.busy}
              aria-describedby={headingId(subscription)}
            >
              {props.busy ? 'Resuming…' : 'Resume subscription'}
            </button>
          )}
          {actions.cancel && (
            <button
              type="button"
              class="secondary danger-text"
              onClick={props.onCancel}
              aria-describedby={headingId(subscription)}
            >
              Cancel subscription
            </button>
          )}
        </div>
      )}
    </li>
  );
}

interface CancelProps {
  api: PortalApi;
  subscription: PortalSubscription;
  locale: string | undefined;
  onClose: () => void;
  onCanceled: (after: PortalSubscription) => void;
}

function CancelDialog(props: CancelProps) {
  const { api, subscription, locale } = props;
  const [comment, setComment] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const until = dateText(subscription.current_period_end, locale);
  const name = subscription.product_name || 'subscription';

  async function confirm(event: Event): Promise<void> {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setError('');
    try {
      props.onCanceled(await api.cancel(subscription.id, comment.trim()));
    } catch (failure) {
      setError(problemText(failure));
      setBusy(false);
    }
  }

  return (
    <Dialog
      id="cancel-dialog"
      title={`Cancel your ${name} subscription?`}
      onClose={props.onClose}
      busy={busy}
      returnFocus={() => focusHeading(subscription)}
    >
      <form onSubmit={(event) => void confirm(event)} noValidate>
        <p id="cancel-dialog-text">
          {until
            ? `It stays active until ${until}, then ends. You will not be charged again. You can resume it until then.`
            : 'It stays active until the end of the period you paid for, then ends. You can resume it until then.'}
        </p>
        <div class="field">
          <label for="cancel-comment">
            Why are you canceling? <span class="optional">(optional)</span>
          </label>
          <textarea
            id="cancel-comment"
            maxLength={500}
            rows={3}
            value={comment}
            onInput={(event) => setComment(event.currentTarget.value)}
          />
        </div>
        <p class="field-error" aria-live="polite">
          {error}
        </p>
        <div class="dialog-actions">
          <button type="button" class="secondary" onClick={props.onClose} disabled={busy} data-autofocus>
            Keep subscription
          </button>
          <button type="submit" class="danger" disabled={busy} aria-busy={busy}>
            {busy ? 'Canceling…' : 'Cancel subscription'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

interface ChangeProps extends ViewProps {
  subscription: PortalSubscription;
  onClose: () => void;
  onChanged: (after: PortalSubscription) => void;
}

function ChangeDialog(props: ChangeProps) {
  const { api, base, organizationId, subscription, locale } = props;
  const [products] = useLoad<PublicProduct[]>(
    () => fetchProducts(base.toString(), organizationId),
    [base, organizationId],
  );
  const [choice, setChoice] = useState<string>(subscription.price_id ?? '');
  const [seats, setSeats] = useState(String(subscription.seats || 1));
  const [preview, setPreview] = useState<PortalSubscriptionChangePreview | null>(null);
  const [phase, setPhase] = useState<'choosing' | 'previewing' | 'changing'>('choosing');
  const [error, setError] = useState('');
  const previewHeading = useRef<HTMLHeadingElement>(null);
  const busy = phase !== 'choosing';

  const options: ChangeOption[] = products.state === 'ready' ? changeOptions(subscription, products.data, locale) : [];

  useEffect(() => {
    // The dialog's controls change once the plans are read: the focus goes
    // to the plan chosen (or the Close button), not to nowhere.
    if (products.state === 'loading') return;
    const dialog = document.getElementById('change-dialog');
    dialog?.querySelector<HTMLElement>('[data-autofocus], button')?.focus();
  }, [products.state]);
  const chosen = options.find((option) => option.priceId === choice) ?? options[0];

  function choose(priceId: string): void {
    setChoice(priceId);
    setPreview(null);
    setError('');
    // Seats the new price allows, starting from the subscription's.
    const range = options.find((option) => option.priceId === priceId)?.seats;
    if (range) {
      const now = Math.max(subscription.seats || 1, range.min);
      setSeats(String(range.max === null ? now : Math.min(now, range.max)));
    }
  }

  async function showPreview(event: Event): Promise<void> {
    event.preventDefault();
    if (busy || !chosen) return;
    const asked = changeRequestOf(subscription, chosen, seats);
    if ('error' in asked) {
      setError(asked.error);
      return;
    }
    setPhase('previewing');
    setError('');
    try {
      setPreview(await api.previewChange(subscription.id, asked.request));
      window.setTimeout(() => previewHeading.current?.focus(), 0);
    } catch (failure) {
      setError(problemText(failure));
    } finally {
      setPhase('choosing');
    }
  }

  async function confirm(): Promise<void> {
    if (busy || !chosen || preview === null) return;
    const asked = changeRequestOf(subscription, chosen, seats);
    if ('error' in asked) return;
    setPhase('changing');
    setError('');
    try {
      props.onChanged(await api.change(subscription.id, asked.request));
    } catch (failure) {
      setError(problemText(failure));
      setPhase('choosing');
    }
  }

  const closeOnly = (
    <div class="dialog-actions">
      <button type="button" class="secondary" onClick={props.onClose}>
        Close
      </button>
    </div>
  );
  let content;
  if (products.state === 'loading') {
    content = (
      <>
        <Loading what="the plans" />
        {closeOnly}
      </>
    );
  } else if (products.state === 'failed') {
    content = (
      <>
        <p class="field-error">The plans could not be loaded. {products.message}</p>
        {closeOnly}
      </>
    );
  } else if (options.length === 0 || (options.length === 1 && options[0]?.seats === null)) {
    content = (
      <>
        <p>No other plan is offered for this billing period.</p>
        {closeOnly}
      </>
    );
  } else {
    const shown = preview === null ? null : previewView(subscription, preview, locale);
    content = (
      <form onSubmit={(event) => void showPreview(event)} noValidate>
        <fieldset class="choices">
          <legend>Plan</legend>
          {options.map((option) => (
            <label class="choice" key={option.priceId}>
              <input
                type="radio"
                name="change-price"
                value={option.priceId}
                checked={option.priceId === chosen?.priceId}
                onChange={() => choose(option.priceId)}
                data-autofocus={option.priceId === chosen?.priceId ? true : undefined}
              />
              <span class="choice-text">
                <span class="choice-name">{option.productName}</span>
                {option.current && <span class="choice-description">Your current plan</span>}
              </span>
              <span class="choice-price">
                <span class="choice-amount">{option.label}</span>
              </span>
            </label>
          ))}
        </fieldset>
        {chosen?.seats && (
          <div class="field seats">
            <label for="change-seats">Seats</label>
            <p class="hint" id="change-seats-hint">
              {chosen.seats.max === null
                ? `At least ${chosen.seats.min}.`
                : `From ${chosen.seats.min} to ${chosen.seats.max}.`}
            </p>
            <input
              id="change-seats"
              type="number"
              inputMode="numeric"
              min={chosen.seats.min}
              max={chosen.seats.max ?? undefined}
              value={seats}
              aria-describedby="change-seats-hint"
              onInput={(event) => {
                setSeats(event.currentTarget.value);
                setPreview(null);
              }}
            />
          </div>
        )}
        <p class="field-error" aria-live="polite">
          {error}
        </p>
        <p class="visually-hidden" aria-live="polite" aria-atomic="true">
          {shown?.announcement ?? ''}
        </p>
        <div>
          {shown && (
            <section class="preview" aria-labelledby="preview-heading">
              <h3 id="preview-heading" tabIndex={-1} ref={previewHeading}>
                {shown.headline}
              </h3>
              <p>{shown.effective}</p>
              <dl class="rows">
                {shown.rows.map((row, index) => (
                  <div class={`row ${row.kind}`} key={`${row.kind}-${index}`}>
                    <dt>{row.label}</dt>
                    <dd>{row.amount}</dd>
                  </div>
                ))}
              </dl>
              {shown.nextRenewal && <p class="muted">{shown.nextRenewal}</p>}
            </section>
          )}
        </div>
        <div class="dialog-actions">
          <button type="button" class="secondary" onClick={props.onClose} disabled={phase === 'changing'}>
            Keep current plan
          </button>
          {preview === null ? (
            <button type="submit" class="primary-inline" disabled={busy} aria-busy={phase === 'previewing'}>
              {phase === 'previewing' ? 'Working out the cost…' : 'Preview change'}
            </button>
          ) : (
            <button
              type="button"
              class="primary-inline"
              onClick={() => void confirm()}
              disabled={busy}
              aria-busy={phase === 'changing'}
            >
              {phase === 'changing' ? 'Changing…' : `Confirm change, ${shown?.dueNow ?? ''} due now`}
            </button>
          )}
        </div>
      </form>
    );
  }

  return (
    <Dialog
      id="change-dialog"
      title={`Change your ${subscription.product_name || 'subscription'} plan`}
      onClose={props.onClose}
      busy={phase === 'changing'}
      returnFocus={() => focusHeading(subscription)}
    >
      {content}
    </Dialog>
  );
}
