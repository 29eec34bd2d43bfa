// The choice of what to buy: the billing period (a real radio group, when
// the offer has both monthly and yearly prices), one radio per product's
// price of that period, and seats for a seat-based price.

import type { PublicProduct } from '../shared/catalog.js';
import type { Cycle } from '../shared/plans.js';
import { locate, offerFor, seatRange } from './choices.js';
import type { FieldKey } from './errors.js';
import { controlId, errorId, FieldError } from './fields.js';

const CYCLE_LABELS: Record<Cycle, string> = { month: 'Monthly', year: 'Yearly' };

interface PlanChoiceProps {
  products: readonly PublicProduct[];
  cycle: Cycle | null;
  priceId: string;
  seats: string;
  errors: Partial<Record<FieldKey, string>>;
  locale: string | undefined;
  onCycle: (cycle: Cycle) => void;
  onPrice: (priceId: string) => void;
  onSeatsInput: (text: string) => void;
  onSeatsCommit: () => void;
}

export function PlanChoice(props: PlanChoiceProps) {
  const { products, cycle, priceId, errors, locale } = props;
  const offer = offerFor(products, cycle, locale);
  const options = offer.plans.flatMap((plan) => plan.options.map((option) => ({ plan, option })));
  const range = seatRange(locate(products, priceId)?.price);
  return (
    <section class="section" aria-labelledby="plan-heading">
      <h2 id="plan-heading">Your plan</h2>
      {offer.cycles.length > 1 && cycle !== null && (
        <fieldset class="cycles">
          <legend>Billing period</legend>
          {offer.cycles.map((value) => (
            <label class="cycle" key={value}>
              <input
                type="radio"
                name="billing-period"
                value={value}
                checked={value === cycle}
                onChange={() => props.onCycle(value)}
              />
              <span>{CYCLE_LABELS[value]}</span>
            </label>
          ))}
        </fieldset>
      )}
      <fieldset class="choices" aria-describedby={errorId('price_id')} id={controlId('price_id')} tabIndex={-1}>
        <legend class="visually-hidden">Plan</legend>
        {options.map(({ plan, option }) => (
          <label class="choice" key={option.priceId} data-price-id={option.priceId}>
            <input
              type="radio"
              name="price"
              value={option.priceId}
              checked={option.priceId === priceId}
              onChange={() => props.onPrice(option.priceId)}
            />
            <span class="choice-text">
              <span class="choice-name">{plan.name}</span>
              {plan.trial && <span class="choice-trial">{plan.trial}</span>}
              {plan.description && <span class="choice-description">{plan.description}</span>}
              {option.usage.map((line, index) => (
                <span class="choice-usage" key={index}>
                  {line}
                </span>
              ))}
            </span>
            <span class="choice-price">
              <span class="choice-amount">{option.amount}</span>
              {option.cadence && <span class="choice-cadence"> {option.cadence}</span>}
            </span>
          </label>
        ))}
      </fieldset>
      <FieldError id={errorId('price_id')} text={errors.price_id} />
      {range !== null && (
        <div class="field seats">
          <label for={controlId('seats')}>Seats</label>
          <input
            id={controlId('seats')}
            type="number"
            inputMode="numeric"
            min={range.min}
            max={range.max ?? undefined}
            step={1}
            value={props.seats}
            aria-invalid={errors.seats ? true : undefined}
            aria-describedby={errorId('seats')}
            onInput={(event) => props.onSeatsInput(event.currentTarget.value)}
            onChange={() => props.onSeatsCommit()}
          />
          <FieldError id={errorId('seats')} text={errors.seats} />
        </div>
      )}
    </section>
  );
}
