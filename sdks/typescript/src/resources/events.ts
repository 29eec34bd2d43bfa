import { toWire } from '../case.js';
import type { Core } from '../core.js';
import type { EventsIngestParams, EventsIngestResult, MutationOptions, Schemas } from '../types.js';

export class Events {
  readonly #core: Core;
  constructor(core: Core) {
    this.#core = core;
  }

  /** `POST /v1/events/ingest`: 1 to 1,000 usage events, all or nothing.
   * Each event's `metadata` keys are sent as given. */
  async ingest(params: EventsIngestParams, options?: MutationOptions): Promise<EventsIngestResult> {
    const { header, init } = this.#core.write(options);
    const result = await this.#core.client.POST('/v1/events/ingest', {
      params: { header },
      body: toWire<Schemas['billingos.metering.v1.IngestEventsRequest']>(params),
      ...init,
    });
    return this.#core.unwrap(result);
  }
}
