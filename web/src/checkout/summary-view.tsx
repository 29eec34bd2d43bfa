// The order summary beside the form: the figures of the session's latest
// totals (summary.ts), and a live region that says the new total when it
// changes (the table itself is not live: a screen reader would read every
// row again).

import type { CheckoutTotals } from './session.js';
import { summaryOf } from './summary.js';

export function OrderSummary(props: { totals: CheckoutTotals | undefined; code: string; locale: string | undefined }) {
  if (!props.totals || !props.totals.currency) {
    return (
      <aside class="summary" aria-labelledby="summary-heading">
        <h2 id="summary-heading">Order summary</h2>
        <p class="muted">No price is chosen yet.</p>
      </aside>
    );
  }
  const summary = summaryOf(props.totals, props.locale, props.code);
  return (
    <aside class="summary" aria-labelledby="summary-heading">
      <h2 id="summary-heading">Order summary</h2>
      <dl class="rows">
        {summary.rows.map((row, index) => (
          <div class={`row ${row.kind}`} key={`${row.kind}-${index}`}>
            <dt>{row.label}</dt>
            <dd>{row.amount}</dd>
          </div>
        ))}
        <div class="row due">
          <dt>Due today</dt>
          <dd>{summary.dueNow}</dd>
        </div>
      </dl>
      {summary.trialEnd !== null && (
        <p class="trial-end">
          Free trial until {summary.trialEnd}; then {summary.total} is charged.
        </p>
      )}
      <p class="visually-hidden" aria-live="polite" aria-atomic="true">
        {summary.announcement}
      </p>
    </aside>
  );
}
