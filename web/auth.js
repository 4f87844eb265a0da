// Where the bearer token comes from. The API only needs `Authorization: Bearer <JWT>` whose
// `sub` is the user; which identity provider issues it is the deployment's choice
// (template.yaml: JwtIssuer, JwtAudience). config.json's `auth.kind` picks a source:
//
// * `oidc`: OpenID Connect authorization code + PKCE at `issuer` (Cognito's managed login, or
//   any OpenID provider; locally the stand-in that scripts/local runs). The ID token is the
//   bearer: its `aud` is the app client id the API's JWT authorizer checks, and it carries
//   `name` and `email`. Renewed with the refresh token; sign-out ends the provider's session.
//   Never the implicit flow: no token ever travels in a URL. See docs/decisions.md.
// * `local`: the local stack's token route (`GET /local/token?user=`), for the demo users.
//   It exists only in `scripts/local`; deployed APIs have no such route.
// * `paste`: paste a token issued by your identity provider (for scripts and debugging).
//
// A source has `signIn(input)`, resolving to a session `{user, name, token, expires_at}` (oidc's
// also `refresh_token`, `lineage` and `gen`, for sharing it between tabs: tabs.js), and
// optionally `refresh(session)` (the same, without asking the person), `completeSignIn()` (a
// redirect's answer, on page load) and `signOut(session)`.

const KEY = 'groupshare.session';
/** A request to the provider that has not answered by then never will (a hung connection): it
 *  fails as not reaching the provider, and renewal is tried again. Renewal holds a lock the
 *  other tabs of the sign-in wait for (tabs.js), so it must end. */
const PROVIDER_TIMEOUT_MS = 15_000;
/** Per user, in localStorage: when the person last chose to sign out on this device. */
const SIGNED_OUT_AT = 'groupshare.signed-out-at:';
/** Revoking is asked for on the way out; a provider slower than this does not hold it up. */
const REVOKE_TIMEOUT_MS = 5_000;
let expiredAtLoad = false;

export function loadSession() {
  try {
    const session = JSON.parse(sessionStorage.getItem(KEY));
    // A session from before its person signed out (a restored or reloaded tab that missed the
    // sign-out) is not theirs to keep.
    if (session && Date.parse(session.expires_at) > Date.now() + 10_000 && !signedOutSince(session)) return session;
    expiredAtLoad = !!session && !signedOutSince(session);
  } catch {
    // nothing usable stored
  }
  sessionStorage.removeItem(KEY);
  return null;
}

/** Whether the tab held a session that had expired when it was loaded (sign-in says so). */
export function sessionExpiredAtLoad() {
  return expiredAtLoad;
}

export function saveSession(session) {
  // sessionStorage: the token lives as long as the tab (for oidc, as long as a tab sharing it:
  // tabs.js), not on the device.
  sessionStorage.setItem(KEY, JSON.stringify(session));
}

export function clearSession() {
  sessionStorage.removeItem(KEY);
}

/** The person chose to sign out: every session of theirs signed in before now, in any tab of
 *  this browser (running, reloaded or restored), is refused from now on. A time, no secret:
 *  the device keeps it (a restored tab can come back long after the other tabs closed). */
export function noteSignOut(user) {
  localStorage.setItem(`${SIGNED_OUT_AT}${user}`, String(Date.now()));
}

/** Whether `session`'s person chose to sign out after it was signed in (one without a sign-in
 *  time, stored before sessions carried one, counts as older). */
export function signedOutSince(session) {
  const at = Number(localStorage.getItem(`${SIGNED_OUT_AT}${session.user}`));
  return at > 0 && (session.signed_in_at || 0) <= at;
}

export function tokenSource(config) {
  const auth = config.auth || { kind: 'paste' };
  if (auth.kind === 'oidc') return oidcSource(auth);
  if (auth.kind === 'local') {
    return {
      kind: 'local',
      users: auth.users || [],
      async signIn({ user }) {
        const url = new URL(`${config.api}/local/token`, location.href);
        url.searchParams.set('user', user);
        const response = await reach(url, { credentials: 'omit' });
        const data = await response.json().catch(() => null);
        if (!response.ok) {
          throw new Error(data && data.error ? data.error.message : `Sign-in failed (${response.status}).`);
        }
        return { user, name: user, token: data.token, expires_at: data.expires_at };
      },
      // The demo users need no password, so a new token is one request away: the live socket
      // reconnects with it (an expired one is refused at the handshake).
      refresh(session) {
        return this.signIn({ user: session.user });
      },
    };
  }
  if (auth.kind === 'paste') {
    return {
      kind: 'paste',
      async signIn({ token }) {
        const claims = decodeClaims(token);
        if (!claims || !claims.sub) throw new Error('That is not a JWT with a `sub` claim.');
        const expires = claims.exp ? new Date(claims.exp * 1000).toISOString() : new Date(Date.now() + 3600e3).toISOString();
        return { user: claims.sub, name: claims.name || claims.email || claims.sub, token: token.trim(), expires_at: expires };
      },
    };
  }
  throw new Error(`config.json: unknown auth.kind "${auth.kind}"`);
}

// --- OpenID Connect: authorization code + PKCE ---------------------------------------------

/** What a sign-in in progress keeps across the redirect (this tab only). */
const PENDING = 'groupshare.oidc.pending';

function oidcSource(auth) {
  if (!auth.issuer || !auth.client_id) throw new Error('config.json: auth.kind "oidc" needs `issuer` and `client_id`');
  const issuer = auth.issuer.replace(/\/+$/, '');
  // Cognito knows openid, email and profile (and refuses offline_access); its code flow always
  // returns a refresh token, as the local stand-in does.
  const scope = auth.scope || 'openid profile email';
  // Registered at the provider as is: the page's address without its query and hash.
  const redirectUri = auth.redirect_uri || `${location.origin}${location.pathname}`;
  let discovered = null;

  /** The provider's endpoints, from its discovery document (fetched once per page). */
  function discover() {
    discovered ||= (async () => {
      const signal = AbortSignal.timeout(PROVIDER_TIMEOUT_MS);
      const response = await reach(`${issuer}/.well-known/openid-configuration`, { credentials: 'omit', signal });
      if (!response.ok) throw new Error(`The identity provider's discovery document answered ${response.status}.`);
      const doc = await response.json().catch((e) => { throw signal.aborted ? unreachable(e) : e; });
      // A document that names another issuer is not this provider's (OpenID Discovery 4.3).
      if (doc.issuer.replace(/\/+$/, '') !== issuer) throw new Error('The identity provider names another issuer.');
      return doc;
    })().catch((e) => {
      discovered = null; // a failure is not remembered: the next attempt asks again
      throw e;
    });
    return discovered;
  }

  async function tokenRequest(params) {
    const { token_endpoint: endpoint } = await discover();
    const signal = AbortSignal.timeout(PROVIDER_TIMEOUT_MS);
    const response = await reach(endpoint, {
      method: 'POST',
      credentials: 'omit',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: auth.client_id, ...params }),
      signal,
    });
    const data = await response.json().catch((e) => {
      if (signal.aborted) throw unreachable(e); // the answer stalled: not a refusal either
      return null;
    });
    if (!response.ok || !data || !data.id_token) {
      throw new Error(data && data.error ? `Sign-in failed: ${data.error_description || data.error}` : `Sign-in failed (${response.status}).`);
    }
    return data;
  }

  /** A session from a token response; `nonce` is checked on the first one only (a refreshed ID
   *  token need not carry it). */
  function session(tokens, previous, nonce) {
    const claims = decodeClaims(tokens.id_token);
    const audiences = claims && [].concat(claims.aud);
    if (!claims || !claims.sub || claims.iss.replace(/\/+$/, '') !== issuer || !audiences.includes(auth.client_id)) {
      throw new Error('The identity provider returned an ID token that is not for this app.');
    }
    if (nonce !== undefined && claims.nonce !== nonce) throw new Error('The ID token does not answer this sign-in (nonce).');
    if (previous && claims.sub !== previous.user) throw new Error('The renewed sign-in is for someone else.');
    return {
      user: claims.sub,
      name: claims.name || claims.email || claims.sub,
      token: tokens.id_token,
      expires_at: new Date(claims.exp * 1000).toISOString(),
      // Cognito's refresh answers carry no new refresh token: the first one stays in use.
      refresh_token: tokens.refresh_token || (previous && previous.refresh_token) || null,
      // Which sign-in at the provider this is, and how often renewed: the tabs that share it
      // (tabs.js) take only a newer one of the same.
      lineage: previous ? previous.lineage : randomString(9),
      gen: previous ? (previous.gen ?? 0) + 1 : 0,
      // When the person signed in (this device's clock, as the sign-out note's): a session
      // from before a sign-out is refused (signedOutSince).
      signed_in_at: previous ? previous.signed_in_at : Date.now(),
    };
  }

  /** RFC 7009: the refresh token is revoked at the provider, so no copy of the session (a tab
   *  that missed the sign-out, a restored one) can renew it. Best effort: not reaching the
   *  provider, or a refusal, does not stop the sign-out. */
  async function revoke(previous) {
    if (!previous || !previous.refresh_token) return;
    try {
      // Cognito's discovery names none: config.json gives its /oauth2/revoke.
      const endpoint = auth.revocation_url || (await discover()).revocation_endpoint;
      if (!endpoint) return; // the provider offers none
      await fetch(endpoint, {
        method: 'POST',
        credentials: 'omit',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: previous.refresh_token, token_type_hint: 'refresh_token', client_id: auth.client_id }),
        signal: AbortSignal.timeout(REVOKE_TIMEOUT_MS),
      });
    } catch {
      // the session's ID token still ends within the hour
    }
  }

  return {
    kind: 'oidc',
    /** Leaves for the provider's sign-in page; the page comes back with `?code=&state=`. */
    async signIn({ returnTo } = {}) {
      const doc = await discover();
      const verifier = randomString(32);
      const state = randomString(16);
      const nonce = randomString(16);
      const challenge = base64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
      // The deep link the person opened comes back with them (the redirect URI has no hash).
      const hash = returnTo && returnTo !== '#/signin' ? returnTo : '#/';
      sessionStorage.setItem(PENDING, JSON.stringify({ state, nonce, verifier, hash }));
      const url = new URL(doc.authorization_endpoint);
      url.search = new URLSearchParams({
        response_type: 'code', client_id: auth.client_id, redirect_uri: redirectUri, scope,
        state, nonce, code_challenge: challenge, code_challenge_method: 'S256',
      });
      location.assign(url);
      return new Promise(() => {}); // the page is leaving
    },
    /** The provider's answer in this page's address, exchanged for tokens; null if there is
     *  none. The address is cleaned first either way, back to the deep link of the sign-in. */
    async completeSignIn() {
      const params = new URLSearchParams(location.search);
      if (!params.has('state') || !(params.has('code') || params.has('error'))) return null;
      let pending = null;
      try {
        pending = JSON.parse(sessionStorage.getItem(PENDING));
      } catch {
        // nothing usable stored
      }
      sessionStorage.removeItem(PENDING);
      history.replaceState(null, '', `${location.pathname}${(pending && pending.hash) || '#/signin'}`);
      // A code this tab did not ask for (a forged or replayed link) is never exchanged.
      if (!pending || params.get('state') !== pending.state) throw new Error('That sign-in was not started here. Please sign in again.');
      if (params.has('error')) throw new Error(`Sign-in failed: ${params.get('error_description') || params.get('error')}`);
      // RFC 9207: a provider that names itself must be ours (mix-up attacks).
      if (params.has('iss') && params.get('iss').replace(/\/+$/, '') !== issuer) throw new Error('The sign-in answer came from another provider.');
      const tokens = await tokenRequest({
        grant_type: 'authorization_code', code: params.get('code'), redirect_uri: redirectUri, code_verifier: pending.verifier,
      });
      return session(tokens, null, pending.nonce);
    },
    /** A new ID token from the refresh token, without the person. */
    async refresh(previous) {
      if (!previous.refresh_token) throw new Error('Your sign-in has expired. Please sign in again.');
      return session(await tokenRequest({ grant_type: 'refresh_token', refresh_token: previous.refresh_token }), previous);
    },
    revoke,
    /** Revokes the refresh token and ends the provider's session too, then comes back here
     *  signed out. */
    async signOut(previous) {
      await revoke(previous);
      let url;
      if (auth.logout_url) {
        // Cognito's discovery has no end_session_endpoint; its /logout URL (with client_id
        // and logout_uri) comes from config.json.
        url = new URL(auth.logout_url);
      } else {
        const doc = await discover();
        if (!doc.end_session_endpoint) return;
        url = new URL(doc.end_session_endpoint);
        url.search = new URLSearchParams({
          client_id: auth.client_id, post_logout_redirect_uri: redirectUri,
          ...(previous && previous.token ? { id_token_hint: previous.token } : {}),
        });
      }
      location.assign(url);
    },
  };
}

/** `fetch`, with not reaching the server told apart from its answer (`network`): a renewal
 *  that never got there is tried again, not taken for a refusal. */
async function reach(url, init) {
  try {
    return await fetch(url, init);
  } catch (e) {
    throw unreachable(e);
  }
}

function unreachable(e) {
  return Object.assign(new Error(`Could not reach the sign-in service (${e.message}).`), { network: true });
}

function randomString(bytes) {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

function base64url(bytes) {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** The claims of a JWT, read for display only (the API verifies the signature). */
function decodeClaims(token) {
  try {
    const part = token.trim().split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(part), (c) => c.charCodeAt(0))));
  } catch {
    return null;
  }
}
