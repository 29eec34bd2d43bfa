// Labelled form controls with their error next to them: the error's element
// is always there (an empty live region until there is something to say),
// so a screen reader announces it when it appears, and the control names it
// (aria-describedby) and says it is invalid (aria-invalid).

import type { ComponentChildren } from 'preact';
import type { FieldKey } from './errors.js';

/** The id of a field's control ("field-billing_address-city"). */
export function controlId(key: FieldKey | 'card'): string {
  return `field-${key.replace('.', '-')}`;
}

export function errorId(key: FieldKey | 'card'): string {
  return `${controlId(key)}-error`;
}

export function FieldError(props: { id: string; text: string | undefined }) {
  return (
    <p id={props.id} class="field-error" aria-live="polite">
      {props.text ?? ''}
    </p>
  );
}

interface TextFieldProps {
  field: FieldKey;
  label: string;
  value: string;
  error: string | undefined;
  onInput: (value: string) => void;
  /** The value is final (the control lost focus, or Enter). */
  onCommit?: () => void;
  /** Enter in the control does this instead of submitting the form. */
  onEnter?: () => void;
  type?: 'text' | 'email';
  autocomplete: string;
  required?: boolean;
  readOnly?: boolean;
  hint?: string | undefined;
  children?: ComponentChildren;
}

export function TextField(props: TextFieldProps) {
  const id = controlId(props.field);
  const hintId = `${id}-hint`;
  const described = [props.hint ? hintId : '', errorId(props.field)].filter(Boolean).join(' ');
  const attributes = {
    id,
    name: props.field,
    value: props.value,
    autocomplete: props.autocomplete,
    required: props.required,
    readOnly: props.readOnly,
    'aria-invalid': props.error ? true : undefined,
    'aria-describedby': described,
    onInput: (event: Event) => props.onInput((event.currentTarget as HTMLInputElement).value),
    onChange: () => props.onCommit?.(),
    onKeyDown: (event: KeyboardEvent) => {
      if (event.key === 'Enter' && props.onEnter) {
        event.preventDefault();
        props.onEnter();
      }
    },
  };
  return (
    <div class="field">
      <label for={id}>
        {props.label}
        {!props.required && <span class="optional"> (optional)</span>}
      </label>
      {props.hint && (
        <p id={hintId} class="hint">
          {props.hint}
        </p>
      )}
      <div class="control-row">
        {props.type === 'email' ? <input type="email" {...attributes} /> : <input type="text" {...attributes} />}
        {props.children}
      </div>
      <FieldError id={errorId(props.field)} text={props.error} />
    </div>
  );
}

interface SelectFieldProps {
  field: FieldKey;
  label: string;
  value: string;
  error: string | undefined;
  placeholder: string;
  options: readonly { value: string; label: string }[];
  autocomplete: string;
  onChange: (value: string) => void;
}

export function SelectField(props: SelectFieldProps) {
  const id = controlId(props.field);
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      <select
        id={id}
        name={props.field}
        autocomplete={props.autocomplete}
        required
        aria-invalid={props.error ? true : undefined}
        aria-describedby={errorId(props.field)}
        onChange={(event) => props.onChange(event.currentTarget.value)}
      >
        <option value="" selected={props.value === ''}>
          {props.placeholder}
        </option>
        {props.options.map((option) => (
          <option key={option.value} value={option.value} selected={option.value === props.value}>
            {option.label}
          </option>
        ))}
      </select>
      <FieldError id={errorId(props.field)} text={props.error} />
    </div>
  );
}
