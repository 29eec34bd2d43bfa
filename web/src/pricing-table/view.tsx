// The pricing table's markup (Preact, rendered into the element's shadow
// root). State: the catalog's products once loaded, the chosen period.

import { useEffect, useMemo, useState } from 'preact/hooks';
import type { PublicProduct } from '../shared/catalog.js';
import { availableCycles, plansFor, type Cycle, type Plan, type PlanOption } from '../shared/plans.js';
import { CatalogUnavailable, fetchProducts } from './catalog.js';

export type Theme = 'light' | 'dark';

export interface TableProps {
  /** The gateway's root URL ("https://billing.example/"). */
  apiBase: string;
  organization: string;
  theme: Theme;
  locale: string | undefined;
  onChoose: (option: PlanOption) => void;
}

type Load =
  | { state: 'loading' }
  | { state: 'loaded'; products: PublicProduct[] }
  | { state: 'unknown-organization' }
  | { state: 'failed'; status: number | null };

const CYCLE_LABELS: Record<Cycle, string> = { month: 'Monthly', year: 'Yearly' };

export function PricingTable(props: TableProps) {
  const { apiBase, organization, theme, locale, onChoose } = props;
  const [load, setLoad] = useState<Load>({ state: 'loading' });
  const [attempt, setAttempt] = useState(0);
  const [cycle, setCycle] = useState<Cycle>('month');

  useEffect(() => {
    if (!organization.trim()) return;
    const abort = new AbortController();
    setLoad({ state: 'loading' });
    fetchProducts(apiBase, organization, abort.signal).then(
      (products) => setLoad({ state: 'loaded', products }),
      (error: unknown) => {
        if (abort.signal.aborted) return;
        if (error instanceof CatalogUnavailable && error.reason.kind === 'unknown-organization') {
          setLoad({ state: 'unknown-organization' });
        } else {
          const status = error instanceof CatalogUnavailable && error.reason.kind === 'unavailable'
            ? error.reason.status
            : null;
          setLoad({ state: 'failed', status });
        }
      },
    );
    return () => abort.abort();
  }, [apiBase, organization, attempt]);

  const products = load.state === 'loaded' ? load.products : [];
  const cycles = useMemo(() => availableCycles(products), [products]);
  const shownCycle = cycles.includes(cycle) ? cycle : (cycles[0] ?? null);
  const plans = useMemo(() => plansFor(products, shownCycle, locale), [products, shownCycle, locale]);

  let body;
  if (!organization.trim()) {
    body = <Status role="alert" tone="error" text="This pricing table has no organization-id." />;
  } else if (load.state === 'loading') {
    body = <Status role="status" tone="muted" text="Loading plans…" />;
  } else if (load.state === 'unknown-organization') {
    body = (
      <Status
        role="alert"
        tone="error"
        text={`No organization “${organization}” is known here, so there are no plans to show.`}
      />
    );
  } else if (load.state === 'failed') {
    body = (
      <div class="status error" role="alert">
        <p>
          The plans could not be loaded
          {load.status === null ? ' (the network failed)' : ` (error ${load.status})`}.
        </p>
        <button type="button" class="secondary" onClick={() => setAttempt((n) => n + 1)}>
          Try again
        </button>
      </div>
    );
  } else if (plans.length === 0) {
    body = <Status role="status" tone="muted" text="No plans are available yet." />;
  } else {
    body = (
      <>
        {cycles.length > 1 && shownCycle !== null && (
          <fieldset class="cycles">
            <legend>Billing period</legend>
            {cycles.map((value) => (
              <label class="cycle" key={value}>
                <input
                  type="radio"
                  name="billing-period"
                  value={value}
                  checked={value === shownCycle}
                  onChange={() => setCycle(value)}
                />
                <span>{CYCLE_LABELS[value]}</span>
              </label>
            ))}
          </fieldset>
        )}
        <ul class="plans" role="list">
          {plans.map((plan) => (
            <PlanCard key={plan.productId} plan={plan} onChoose={onChoose} />
          ))}
        </ul>
      </>
    );
  }
  return (
    <section
      class={`table ${theme}`}
      part="table"
      aria-label="Plans and pricing"
      aria-busy={load.state === 'loading' && organization.trim() !== ''}
    >
      {body}
    </section>
  );
}

function Status(props: { role: 'status' | 'alert'; tone: 'muted' | 'error'; text: string }) {
  return (
    <p class={`status ${props.tone}`} role={props.role}>
      {props.text}
    </p>
  );
}

function PlanCard(props: { plan: Plan; onChoose: (option: PlanOption) => void }) {
  const { plan, onChoose } = props;
  const heading = `plan-${plan.productId}`;
  return (
    <li class="plan" part="plan" aria-labelledby={heading}>
      <h3 id={heading}>{plan.name}</h3>
      {plan.trial && <p class="trial">{plan.trial}</p>}
      {plan.description && <p class="description">{plan.description}</p>}
      {plan.features.length > 0 && (
        <ul class="features" aria-label={`Included in ${plan.name}`}>
          {plan.features.map((feature, index) => (
            <li key={index}>{feature}</li>
          ))}
        </ul>
      )}
      <div class="options">
        {plan.options.map((option) => (
          <div class="option" key={option.priceId} data-price-id={option.priceId}>
            <p class="price">
              <span class="amount">{option.amount}</span>
              {option.cadence && <span class="cadence"> {option.cadence}</span>}
            </p>
            {option.usage.map((line, index) => (
              <p class="usage" key={index}>
                {line}
              </p>
            ))}
            <button
              type="button"
              part="button"
              data-price-id={option.priceId}
              aria-label={`${option.action}: ${plan.name}, ${option.amount}${option.cadence ? ` ${option.cadence}` : ''}`}
              onClick={() => onChoose(option)}
            >
              {option.action}
            </button>
          </div>
        ))}
      </div>
    </li>
  );
}
