// The entry of the hosted checkout page's script (assets/checkout-<hash>.js,
// loaded by the page's HTML shell, pages/checkout.html, which the gateway
// serves at /checkout/{organization}/{link} and /checkout/session/{secret}).
// The gateway's root is where the script came from, one folder up (assets/
// sits at the root), so a gateway under a path prefix works;
// document.currentScript is only set while the script first runs.

import { render } from 'preact';
import { checkoutApi } from './api.js';
import { CheckoutPage } from './page.js';
import { routeOf } from './route.js';
import './styles.css';

function gatewayRoot(): URL {
  const script = document.currentScript;
  if (script instanceof HTMLScriptElement && script.src) return new URL('../', script.src);
  return new URL('/', window.location.href);
}

const base = gatewayRoot();
const mount = document.getElementById('checkout');
if (mount !== null) {
  mount.replaceChildren();
  render(
    <CheckoutPage
      api={checkoutApi(base.toString())}
      base={base}
      route={routeOf(new URL(window.location.href), base)}
      locale={navigator.language || undefined}
    />,
    mount,
  );
}
