// The entry of /pricing-table.js: a classic script (an IIFE, no import or
// export), so `<script src=".../pricing-table.js">` works on any page and
// origin without CORS. The API is read from where the script came from:
// document.currentScript is only set while the script first runs, so it is
// read here, once.

import { defineElement } from './element.js';

function scriptBase(): string {
  const script = document.currentScript;
  if (script instanceof HTMLScriptElement && script.src) {
    return new URL('.', script.src).toString(); // "https://billing.example/"
  }
  return new URL('/', window.location.href).toString();
}

defineElement(scriptBase());
