// What the customer's purchases grant: each benefit grant (a feature, usage
// credits, a license key, a custom benefit), and the license keys in full,
// each with a copy button, its status and activations, and the devices
// using it, any of which the customer may deactivate to free its place.

import { useState } from 'preact/hooks';
import type { PortalApi } from './api.js';
import { Badge, Failed, FlashMessage, Loading, problemText, useFlash, useLoad } from './common.js';
import { activationsText, dateText, grantView, licenseKeyStatus } from './describe.js';
import type { BenefitGrant, LicenseKeyActivation, PortalCustomerMeter, PortalLicenseKey } from './types.js';

interface Benefits {
  grants: BenefitGrant[];
  keys: PortalLicenseKey[];
  activations: Record<string, LicenseKeyActivation[]>;
  meterNames: Map<string, string>;
  descriptions: Map<string, string>;
}

async function loadBenefits(api: PortalApi): Promise<Benefits> {
  const [grants, keys, meters] = await Promise.all([
    api.benefitGrants(),
    api.licenseKeys(),
    // Only for the names of meters credits are granted on.
    api.meters().catch((): PortalCustomerMeter[] => []),
  ]);
  const activations: Record<string, LicenseKeyActivation[]> = {};
  await Promise.all(
    keys
      .filter((key) => (key.activations ?? 0) > 0)
      .map(async (key) => {
        activations[key.id] = await api.activations(key.id);
      }),
  );
  const meterNames = new Map(meters.map((meter) => [meter.meter_id ?? '', meter.meter_name ?? '']));
  const descriptions = new Map(keys.map((key) => [key.benefit_id ?? '', key.benefit_description ?? '']));
  return { grants, keys, activations, meterNames, descriptions };
}

/** Copies `text`; the Clipboard API where the page may use it, else the
 * selection of `element` and the older copy command. */
async function copyText(text: string, element: HTMLElement | null): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (element === null) return false;
    const range = document.createRange();
    range.selectNodeContents(element);
    const selection = window.getSelection();
    selection?.removeAllRanges();
    selection?.addRange(range);
    return document.execCommand('copy');
  }
}

export function BenefitsView(props: { api: PortalApi; locale: string | undefined }) {
  const { api, locale } = props;
  const [loaded, reload] = useLoad(() => loadBenefits(api), [api]);
  const [busyId, setBusyId] = useState<string | null>(null);
  const [flash, say] = useFlash();

  async function copy(key: PortalLicenseKey): Promise<void> {
    const copied = await copyText(key.key ?? '', document.getElementById(`key-${key.id}`));
    if (copied) say('License key copied to the clipboard.');
    else say('The key could not be copied. Select it and copy it yourself.', true);
  }

  async function deactivate(key: PortalLicenseKey, activation: LicenseKeyActivation): Promise<void> {
    setBusyId(activation.id);
    try {
      await api.deactivate(key.id, activation.id);
      await reload();
      const device = activation.label || 'The device';
      say(`${device} was deactivated. ${key.benefit_description || 'The key'} has a free place again.`);
      window.setTimeout(() => document.getElementById(`key-heading-${key.id}`)?.focus(), 0);
    } catch (error) {
      say(problemText(error), true);
    } finally {
      setBusyId(null);
    }
  }

  if (loaded.state === 'loading') return <Loading what="your benefits" />;
  if (loaded.state === 'failed') return <Failed message={loaded.message} onRetry={() => void reload()} />;
  const { grants, keys, activations, meterNames, descriptions } = loaded.data;
  return (
    <>
      <FlashMessage flash={flash} />
      <section aria-labelledby="grants-heading">
        <h2 id="grants-heading">Your benefits</h2>
        {grants.length === 0 ? (
          <p class="empty">Your purchases grant no benefits yet.</p>
        ) : (
          <ul class="cards" aria-labelledby="grants-heading">
            {grants.map((grant) => {
              const shown = grantView(grant, locale, meterNames, descriptions);
              return (
                <li class="card card-row" key={grant.id}>
                  <div class="card-main">
                    <h3 class="card-title">
                      {shown.kind}
                      {shown.name && <span class="muted">: {shown.name}</span>}
                    </h3>
                    {shown.detail && <p>{shown.detail}</p>}
                    <p class="muted">{shown.standing}</p>
                  </div>
                  <Badge tone={shown.granted ? 'good' : 'neutral'}>{shown.granted ? 'Active' : 'Revoked'}</Badge>
                </li>
              );
            })}
          </ul>
        )}
      </section>
      <section aria-labelledby="keys-heading">
        <h2 id="keys-heading">License keys</h2>
        {keys.length === 0 ? (
          <p class="empty">You have no license keys.</p>
        ) : (
          <ul class="cards" aria-labelledby="keys-heading">
            {keys.map((key) => {
              const status = licenseKeyStatus(key);
              const devices = activations[key.id] ?? [];
              const headingId = `key-heading-${key.id}`;
              return (
                <li class="card" key={key.id} aria-labelledby={headingId}>
                  <div class="card-head">
                    <h3 class="card-title" id={headingId} tabIndex={-1}>
                      {key.benefit_description || 'License key'}
                    </h3>
                    <Badge tone={status.tone}>{status.label}</Badge>
                  </div>
                  <div class="key-row">
                    <span class="field-label">Key</span>
                    <code class="license-key" id={`key-${key.id}`}>
                      {key.key}
                    </code>
                    <button
                      type="button"
                      class="secondary small"
                      onClick={() => void copy(key)}
                      aria-describedby={headingId}
                    >
                      Copy key
                    </button>
                  </div>
                  <p class="muted">
                    {activationsText(key)}
                    {key.expire_time ? `. Valid until ${dateText(key.expire_time, locale)}` : ''}
                  </p>
                  {devices.length > 0 && (
                    <ul class="devices" aria-label={`Devices using ${key.benefit_description || 'the key'}`}>
                      {devices.map((activation) => (
                        <li class="device" key={activation.id}>
                          <span>
                            <strong>{activation.label || 'Unnamed device'}</strong>
                            <span class="muted"> · since {dateText(activation.create_time, locale)}</span>
                          </span>
                          <button
                            type="button"
                            class="secondary small"
                            onClick={() => void deactivate(key, activation)}
                            disabled={busyId !== null}
                            aria-busy={busyId === activation.id}
                          >
                            {busyId === activation.id ? 'Deactivating…' : 'Deactivate'}
                            <span class="visually-hidden"> {activation.label || 'device'}</span>
                          </button>
                        </li>
                      ))}
                    </ul>
                  )}
                </li>
              );
            })}
          </ul>
        )}
      </section>
    </>
  );
}
