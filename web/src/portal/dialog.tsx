// A modal dialog: the browser's own <dialog>, opened with showModal(), so
// the rest of the page is inert (no focus, no clicks, hidden from assistive
// technology), Escape closes it, and it is named by its heading. Focus goes
// to the control marked data-autofocus (else the first one) when it opens,
// and back to where it was when it closes (or to `returnFocus`, when that
// control is gone, e.g. a Cancel button replaced by Resume).

import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';

interface DialogProps {
  id: string;
  title: string;
  /** Closing by Escape, or by a button of the dialog's. */
  onClose: () => void;
  /** While a request is in flight Escape does nothing. */
  busy?: boolean;
  /** Where focus goes on closing when the opener is gone. */
  returnFocus?: () => HTMLElement | null;
  children: ComponentChildren;
}

const FOCUSABLE = 'button:not([disabled]), input:not([disabled]), select, textarea, a[href], [tabindex="0"]';

export function Dialog(props: DialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const opener = useRef<Element | null>(null);
  const busy = useRef(props.busy ?? false);
  busy.current = props.busy ?? false;
  const onClose = useRef(props.onClose);
  onClose.current = props.onClose;
  const returnFocus = useRef(props.returnFocus);
  returnFocus.current = props.returnFocus;

  useEffect(() => {
    const dialog = ref.current;
    if (dialog === null) return;
    opener.current = document.activeElement;
    if (!dialog.open) dialog.showModal();
    const first =
      dialog.querySelector<HTMLElement>('[data-autofocus]') ?? dialog.querySelector<HTMLElement>(FOCUSABLE);
    first?.focus();
    const cancel = (event: Event) => {
      event.preventDefault(); // closed by its owner, which unmounts it
      if (!busy.current) onClose.current();
    };
    dialog.addEventListener('cancel', cancel);
    return () => {
      dialog.removeEventListener('cancel', cancel);
      if (dialog.open) dialog.close();
      const back = opener.current;
      const target = back instanceof HTMLElement && back.isConnected ? back : (returnFocus.current?.() ?? null);
      // After this render: the opener may be replaced in the same one.
      window.setTimeout(() => {
        const now = target?.isConnected ? target : (returnFocus.current?.() ?? null);
        now?.focus();
      }, 0);
    };
  }, []);

  return (
    <dialog ref={ref} class="dialog" id={props.id} aria-labelledby={`${props.id}-title`} aria-modal="true">
      <h2 id={`${props.id}-title`} class="dialog-title">
        {props.title}
      </h2>
      {props.children}
    </dialog>
  );
}
