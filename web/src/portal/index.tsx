// The entry of the customer portal's script (assets/portal-<hash>.js, loaded
// by the page's HTML shells, pages/portal.html and pages/portal-sign-in.html,
// which the gateway serves at /portal/{organization id} and
// /portal/{organization id}/sign-in). The gateway's root is where the script
// came from, one folder up. Before anything renders, a token in the
// fragment (#token= from a sign-in link, #session= from a merchant's app) is
// read and the address bar moves to the portal's own path without it.

import { render } from 'preact';
import { publicPortalApi } from './api.js';
import { PortalApp } from './app.js';
import { fragmentOf, portalPath, routeOf } from './route.js';
import { tabStorage } from './storage.js';
import '../checkout/styles.css';
import './styles.css';

function gatewayRoot(): URL {
  const script = document.currentScript;
  if (script instanceof HTMLScriptElement && script.src) return new URL('../', script.src);
  return new URL('/', window.location.href);
}

const base = gatewayRoot();
const here = new URL(window.location.href);
const route = routeOf(here, base);
const fragment = fragmentOf(here.hash);
if (route !== null && (here.hash || route.signIn)) {
  window.history.replaceState(null, '', portalPath(base, route.organizationId, here.search));
}
const mount = document.getElementById('portal');
if (mount !== null) {
  mount.replaceChildren();
  render(
    <PortalApp
      publicApi={publicPortalApi(base.toString())}
      base={base}
      route={route}
      credentials={{ signInToken: route?.signIn ? fragment.signInToken : null, sessionToken: fragment.sessionToken }}
      storage={tabStorage()}
      locale={navigator.language || undefined}
    />,
    mount,
  );
}
