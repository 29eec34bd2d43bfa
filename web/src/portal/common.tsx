// Pieces every view of the portal uses: loading what it shows (and again
// after a change), saying that it is loading or why it failed, a status
// badge, and the live region that says what a change did.

import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api.js';
import type { Tone } from './describe.js';
import { messageOf } from './errors.js';

export type Loaded<T> =
  | { state: 'loading' }
  | { state: 'ready'; data: T }
  | { state: 'failed'; message: string };

/** One of the API's failures as a sentence (anything else: a generic one). */
export function problemText(error: unknown): string {
  return error instanceof ApiError ? messageOf(error.status) : 'Something went wrong. Please try again.';
}

/** `load()`'s answer, loaded now and by `reload()` (which keeps what is
 * shown until the new answer is there). */
export function useLoad<T>(load: () => Promise<T>, key: unknown[] = []): [Loaded<T>, () => Promise<void>] {
  const [loaded, setLoaded] = useState<Loaded<T>>({ state: 'loading' });
  const latest = useRef(0);
  const run = useCallback(async () => {
    const attempt = ++latest.current;
    try {
      const data = await load();
      if (attempt === latest.current) setLoaded({ state: 'ready', data });
    } catch (error) {
      if (attempt === latest.current) setLoaded({ state: 'failed', message: problemText(error) });
    }
  }, key);
  useEffect(() => {
    setLoaded({ state: 'loading' });
    void run();
    return () => {
      latest.current++;
    };
  }, [run]);
  return [loaded, run];
}

export function Loading(props: { what: string }) {
  return (
    <p class="notice-inline" role="status">
      Loading {props.what}…
    </p>
  );
}

export function Failed(props: { message: string; onRetry: () => void }) {
  return (
    <div class="problem" role="alert">
      <p>{props.message}</p>
      <button type="button" class="secondary" onClick={props.onRetry}>
        Try again
      </button>
    </div>
  );
}

export function Badge(props: { tone: Tone; children: ComponentChildren }) {
  return <span class={`badge badge-${props.tone}`}>{props.children}</span>;
}

/** What the last change did, said politely to screen readers and shown. An
 * error is in the same place, in the error colour. */
export interface Flash {
  text: string;
  error: boolean;
}

export function FlashMessage(props: { flash: Flash | null }) {
  const flash = props.flash;
  return (
    <p class={`flash${flash?.error ? ' flash-error' : ''}`} role="status" aria-live="polite" aria-atomic="true">
      {flash?.text ?? ''}
    </p>
  );
}

export function useFlash(): [Flash | null, (text: string, error?: boolean) => void] {
  const [flash, setFlash] = useState<Flash | null>(null);
  const say = useCallback((text: string, error = false) => setFlash({ text, error }), []);
  return [flash, say];
}
