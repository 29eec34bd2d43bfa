// The customer's usage on each meter in its current window (since the last
// credit reset, or since the first use): used, credited and the balance.

import type { PortalApi } from './api.js';
import { Failed, Loading, useLoad } from './common.js';
import { dateText, quantityText } from './describe.js';

export function UsageView(props: { api: PortalApi; locale: string | undefined }) {
  const { api, locale } = props;
  const [loaded, reload] = useLoad(() => api.meters(), [api]);
  if (loaded.state === 'loading') return <Loading what="your usage" />;
  if (loaded.state === 'failed') return <Failed message={loaded.message} onRetry={() => void reload()} />;
  if (loaded.data.length === 0) return <p class="empty">No usage is recorded for you yet.</p>;
  return (
    <div class="table-wrap">
      <table class="table">
        <caption class="visually-hidden">Usage per meter</caption>
        <thead>
          <tr>
            <th scope="col">Meter</th>
            <th scope="col" class="number">
              Used
            </th>
            <th scope="col" class="number">
              Credited
            </th>
            <th scope="col" class="number">
              Balance
            </th>
            <th scope="col">Since</th>
          </tr>
        </thead>
        <tbody>
          {loaded.data.map((meter) => {
            const negative = (meter.balance ?? '').trim().startsWith('-');
            return (
              <tr key={meter.id}>
                <th scope="row">{meter.meter_name || meter.meter_id}</th>
                <td class="number">{quantityText(meter.consumed_units, locale)}</td>
                <td class="number">{quantityText(meter.credited_units, locale)}</td>
                <td class={`number${negative ? ' warning-text' : ''}`}>{quantityText(meter.balance, locale)}</td>
                <td>{dateText(meter.window_start_time, locale)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
