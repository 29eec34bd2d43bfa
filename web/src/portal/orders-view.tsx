// The customer's orders, newest first: date, invoice number, what it was
// for, status and total, each with its invoice as a PDF. The invoice is
// fetched with the session's token (an <a href> could not carry the
// Authorization header) and handed to the browser as a download from a
// blob: URL.

import { useState } from 'preact/hooks';
import type { PortalApi } from './api.js';
import { Badge, Failed, FlashMessage, Loading, problemText, useFlash, useLoad } from './common.js';
import { dateText, money, orderDescription, orderStatus } from './describe.js';
import type { PortalOrder } from './types.js';

/** Hands `blob` to the browser as a download named `fileName`. */
export function download(blob: Blob, fileName: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  // Long enough for the browser to have read it.
  window.setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export function OrdersView(props: { api: PortalApi; locale: string | undefined }) {
  const { api, locale } = props;
  const [loaded, reload] = useLoad(() => api.orders(), [api]);
  const [busyId, setBusyId] = useState<string | null>(null);
  const [flash, say] = useFlash();

  async function fetchInvoice(order: PortalOrder): Promise<void> {
    if (busyId !== null) return;
    setBusyId(order.id);
    try {
      const invoice = await api.invoice(order);
      download(invoice.blob, invoice.fileName);
      say(`Invoice ${order.invoice_number || order.id} downloaded as ${invoice.fileName}.`);
    } catch (error) {
      say(`The invoice could not be downloaded. ${problemText(error)}`, true);
    } finally {
      setBusyId(null);
    }
  }

  let body;
  if (loaded.state === 'loading') body = <Loading what="your orders" />;
  else if (loaded.state === 'failed') body = <Failed message={loaded.message} onRetry={() => void reload()} />;
  else if (loaded.data.length === 0) body = <p class="empty">You have no orders yet.</p>;
  else {
    body = (
      <div class="table-wrap">
        <table class="table">
          <caption class="visually-hidden">Your orders, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Date</th>
              <th scope="col">Invoice</th>
              <th scope="col">Description</th>
              <th scope="col">Status</th>
              <th scope="col" class="number">
                Total
              </th>
              <th scope="col">
                <span class="visually-hidden">Invoice PDF</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {loaded.data.map((order) => {
              const status = orderStatus(order);
              const busy = busyId === order.id;
              return (
                <tr key={order.id}>
                  <td>{dateText(order.create_time, locale)}</td>
                  <td>
                    <code class="invoice-number">{order.invoice_number || order.id}</code>
                  </td>
                  <td>{orderDescription(order)}</td>
                  <td>
                    <Badge tone={status.tone}>{status.label}</Badge>
                  </td>
                  <td class="number">{money(order.total_minor, order.currency, locale)}</td>
                  <td>
                    <button
                      type="button"
                      class="secondary small"
                      onClick={() => void fetchInvoice(order)}
                      disabled={busy}
                      aria-busy={busy}
                    >
                      {busy ? 'Downloading…' : 'Download invoice (PDF)'}
                      <span class="visually-hidden">, {order.invoice_number || order.id}</span>
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    );
  }
  return (
    <>
      <FlashMessage flash={flash} />
      {body}
    </>
  );
}
