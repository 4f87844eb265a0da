// Where the bearer token comes from. The API only needs `Authorization: Bearer <JWT>` whose
// `sub` is the user; which identity provider issues it is the deployment's choice
// (template.yaml: JwtIssuer, JwtAudience). config.json's `auth.kind` picks a source:
//
// * `local`: the local stack's token route (`GET /local/token?user=`), for the demo users.
//   It exists only in `scripts/local`; deployed APIs have no such route.
// * `paste`: paste a token issued by your identity provider (for trying a deployment).
//
// A team plugs in its own provider by adding a source with the same shape: `signIn(input)`
// resolves to `{user, token, expires_at}` (e.g. an OIDC authorization-code + PKCE flow against
// Cognito or Auth0), and optionally `refresh(session)` to the same for a session about to
// expire, without asking the person (e.g. a refresh token). See docs/deploy.md.

const KEY = 'groupshare.session';
let expiredAtLoad = false;

export function loadSession() {
  try {
    const session = JSON.parse(sessionStorage.getItem(KEY));
    if (session && Date.parse(session.expires_at) > Date.now() + 10_000) return session;
    expiredAtLoad = !!session;
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
  // sessionStorage: the token lives as long as the tab, not on the device.
  sessionStorage.setItem(KEY, JSON.stringify(session));
}

export function clearSession() {
  sessionStorage.removeItem(KEY);
}

export function tokenSource(config) {
  const auth = config.auth || { kind: 'paste' };
  if (auth.kind === 'local') {
    return {
      kind: 'local',
      users: auth.users || [],
      async signIn({ user }) {
        const url = new URL(`${config.api}/local/token`, location.href);
        url.searchParams.set('user', user);
        const response = await fetch(url, { credentials: 'omit' });
        const data = await response.json().catch(() => null);
        if (!response.ok) {
          throw new Error(data && data.error ? data.error.message : `Sign-in failed (${response.status}).`);
        }
        return { user, token: data.token, expires_at: data.expires_at };
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
        return { user: claims.sub, token: token.trim(), expires_at: expires };
      },
    };
  }
  throw new Error(`config.json: unknown auth.kind "${auth.kind}"`);
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
