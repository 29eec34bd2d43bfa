// Sends the customer's changes to the session one PATCH at a time, in the
// order they were made, so the totals shown are always those of the latest
// answer, and a slow answer never overwrites a newer one. Changes of the same
// fields that wait behind a request in flight are merged (the last value
// wins: typing in the address, then in it again, is one request). A change
// of other fields waits as its own request: a code the service refuses must
// not take the email typed next to it down with it (a PATCH is all or
// nothing).

import { statusOf } from '../shared/status.js';
import { ApiError } from './api.js';
import type { EditableField, PublicCheckoutSession, SessionChanges } from './session.js';

export interface UpdateListener {
  /** The session as it stands after `changes` were saved. */
  saved(session: PublicCheckoutSession, changes: SessionChanges): void;
  /** `changes` were refused (nothing of them saved). */
  refused(error: ApiError, changes: SessionChanges): void;
}

function sameFields(a: SessionChanges, b: SessionChanges): boolean {
  const left = Object.keys(a).sort();
  const right = Object.keys(b).sort();
  return left.length === right.length && left.every((field, index) => field === right[index]);
}

export class SessionUpdater {
  readonly #send: (changes: SessionChanges) => Promise<PublicCheckoutSession>;
  readonly #listener: UpdateListener;
  readonly #waiting: SessionChanges[] = [];
  #running: Promise<void> | null = null;

  constructor(send: (changes: SessionChanges) => Promise<PublicCheckoutSession>, listener: UpdateListener) {
    this.#send = send;
    this.#listener = listener;
  }

  /** Queues `changes` (an empty change is ignored). */
  submit(changes: SessionChanges): void {
    if (Object.keys(changes).length === 0) return;
    const last = this.#waiting[this.#waiting.length - 1];
    if (last !== undefined && sameFields(last, changes)) {
      this.#waiting[this.#waiting.length - 1] = changes;
    } else {
      this.#waiting.push(changes);
    }
    this.#running ??= this.#drain();
  }

  /** How many requests are waiting or in flight. */
  get pending(): number {
    return this.#waiting.length + (this.#running === null ? 0 : 1);
  }

  /** Resolves once every change submitted so far has its answer. */
  async idle(): Promise<void> {
    while (this.#running !== null) await this.#running;
  }

  async #drain(): Promise<void> {
    try {
      for (let changes = this.#waiting.shift(); changes !== undefined; changes = this.#waiting.shift()) {
        try {
          this.#listener.saved(await this.#send(changes), changes);
        } catch (error) {
          this.#listener.refused(error instanceof ApiError ? error : new ApiError(statusOf(0, null)), changes);
        }
      }
    } finally {
      this.#running = null;
    }
  }
}

/** The fields a change names. */
export function fieldsOf(changes: SessionChanges): EditableField[] {
  return Object.keys(changes) as EditableField[];
}
