// The local stack's identity provider: a real OpenID Connect provider (panva's oidc-provider,
// the certified implementation) standing in for Cognito's managed login, so the web client runs
// the same authorization-code + PKCE flow locally as deployed, and the local authorizers verify
// its ID tokens through its JWKS as API Gateway verifies Cognito's.
//
// What differs from a production provider, on purpose and only here:
// * the accounts are the demo users of local/oidc/users.json (fixed passwords that scripts/local
//   prints; `sub` is the user id the demo data uses);
// * sessions, codes and refresh tokens live in memory (a restart signs everyone out), while the
//   signing keys persist in the data directory, so ID tokens already issued still verify;
// * sign-out needs no confirmation click, as Cognito's /logout needs none.
//
// Environment: GROUPSHARE_OIDC_PORT (9002 from scripts/local), GROUPSHARE_OIDC_ISSUER (http://127.0.0.1:PORT),
// GROUPSHARE_OIDC_REDIRECT_URIS (comma-separated: the web client's URLs), GROUPSHARE_OIDC_DATA_DIR
// (keys), GROUPSHARE_OIDC_MODULES (the node_modules that `npm ci` filled, in .local/oidc),
// GROUPSHARE_OIDC_TOKEN_TTL (seconds, 3600).

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const env = (name, fallback) => (process.env[name] || '').trim() || fallback;
const port = Number(env('GROUPSHARE_OIDC_PORT', '9002'));
const issuer = env('GROUPSHARE_OIDC_ISSUER', `http://127.0.0.1:${port}`);
const redirectUris = env('GROUPSHARE_OIDC_REDIRECT_URIS', 'http://127.0.0.1:9000/').split(',').map((u) => u.trim()).filter(Boolean);
const dataDir = env('GROUPSHARE_OIDC_DATA_DIR', join(here, '../../.local/data/oidc'));
const modules = env('GROUPSHARE_OIDC_MODULES', join(here, '../../.local/oidc/node_modules'));
// ID and access token lifetime: Cognito's hour; the browser tests shorten it to see a renewal.
const tokenTtl = Number(env('GROUPSHARE_OIDC_TOKEN_TTL', '3600'));
export const CLIENT_ID = 'groupshare-web';

// The package is installed outside the source tree (.local/oidc), so it is resolved from there.
const require = createRequire(join(modules, 'resolve.js'));
const { default: Provider, errors } = await import(pathToFileURL(require.resolve('oidc-provider')).href);

const users = JSON.parse(readFileSync(join(here, 'users.json'), 'utf8'));

/** The JSON in `dataDir/name`, made by `make()` and written (mode 0600) on first use. */
function persisted(name, make) {
  const path = join(dataDir, name);
  if (!existsSync(path)) {
    mkdirSync(dataDir, { recursive: true });
    // Written whole under a temporary name, then renamed: a crash never leaves half a key.
    const tmp = `${path}.${process.pid}`;
    writeFileSync(tmp, JSON.stringify(make()), { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, path);
  }
  return JSON.parse(readFileSync(path, 'utf8'));
}

const jwks = persisted('jwks.json', () => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { keys: [{ ...jwk, kid: randomBytes(8).toString('hex'), use: 'sig', alg: 'RS256' }] };
});
const cookieKeys = persisted('cookie-keys.json', () => [randomBytes(32).toString('base64url')]);

const provider = new Provider(issuer, {
  clients: [{
    client_id: CLIENT_ID,
    // A browser app keeps no secret: a public client, held to PKCE.
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: redirectUris,
    post_logout_redirect_uris: redirectUris,
    id_token_signed_response_alg: 'RS256',
  }],
  jwks,
  cookies: { keys: cookieKeys },
  // Cognito's JWKS path, so the authorizers' default `{issuer}/.well-known/jwks.json` finds it.
  routes: { jwks: '/.well-known/jwks.json' },
  claims: {
    openid: ['sub'],
    profile: ['name'],
    email: ['email', 'email_verified'],
  },
  // Cognito's ID tokens carry the profile and email claims; the API takes the first display
  // name from them (GET /me), so the stand-in's must too.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  // Cognito issues a refresh token with every code exchange; the client renews with it.
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  ttl: {
    AccessToken: tokenTtl,
    IdToken: tokenTtl,
    AuthorizationCode: 300,
    RefreshToken: 30 * 24 * 3600,
    Interaction: 3600,
    Session: 14 * 24 * 3600,
    Grant: 30 * 24 * 3600,
  },
  features: {
    devInteractions: { enabled: false }, // its form takes any password; ours checks them
    rpInitiatedLogout: {
      enabled: true,
      // The end-session page submits itself: the web client's "Sign out" is the person's
      // confirmation, as with Cognito's /logout.
      logoutSource: async (ctx, form) => {
        ctx.body = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Signing out</title><link rel="icon" href="data:,"></head>
<body>${form}<p>Signing out…</p><script>
const f = document.getElementById('op.logoutForm');
const yes = document.createElement('input'); yes.type = 'hidden'; yes.name = 'logout'; yes.value = 'yes';
f.appendChild(yes); f.submit();
</script></body></html>`;
      },
    },
  },
  async findAccount(_ctx, sub) {
    const user = users[sub];
    if (!user) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { sub, name: user.name, email: user.email, email_verified: true };
      },
    };
  },
  // The web client is first-party: what it asks for is granted without a consent screen (as
  // Cognito's managed login does), so the only interaction is the login form.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid profile email');
    await grant.save();
    ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId, grant.jti);
    return grant;
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  renderError: async (ctx, out) => {
    ctx.type = 'html';
    ctx.body = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Sign-in error</title></head><body>
<h1>Sign-in error</h1><pre>${escape(JSON.stringify(out, null, 2))}</pre></body></html>`;
  },
});

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function loginPage(uid, { login = '', error = '' } = {}) {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · GroupShare local identity provider</title>
<link rel="icon" href="data:,">
<style>body{font:16px system-ui,sans-serif;max-width:22rem;margin:4rem auto;padding:0 1rem}
label,input,button{display:block;width:100%;box-sizing:border-box}input{margin:.25rem 0 1rem;padding:.5rem}
button{padding:.6rem}.error{color:#b00020}</style></head><body>
<h1>Sign in</h1>
<p>GroupShare's local identity provider (a stand-in for your organisation's).</p>
${error ? `<p class="error" role="alert" id="login-error">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login" id="login-form">
<label for="login">User name</label>
<input id="login" name="login" autocomplete="username" required autofocus value="${escape(login)}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form></body></html>`;
}

async function formBody(req) {
  let text = '';
  for await (const chunk of req) {
    text += chunk;
    if (text.length > 16 * 1024) throw new Error('form too large');
  }
  return new URLSearchParams(text);
}

/** The login interaction: the form, and checking what it sends. */
async function interaction(req, res, url) {
  const match = url.pathname.match(/^\/interaction\/([^/]+)(\/login)?$/);
  if (!match) return false;
  const send = (status, html) => {
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(html);
  };
  try {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== match[1]) return send(400, 'Unknown sign-in.'), true;
    if (req.method === 'GET' && !match[2]) return send(200, loginPage(details.uid)), true;
    if (req.method === 'POST' && match[2]) {
      const form = await formBody(req);
      const login = (form.get('login') || '').trim();
      const user = Object.hasOwn(users, login) ? users[login] : null;
      if (!user || user.password !== form.get('password')) {
        return send(200, loginPage(details.uid, { login, error: 'Wrong user name or password.' })), true;
      }
      await provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
      return true;
    }
    return send(405, 'Method not allowed.'), true;
  } catch (e) {
    // An expired or unknown interaction: start again from the app.
    send(e instanceof errors.SessionNotFound ? 400 : 500, `<p>${escape(e.message)}</p><p>Go back to the app and sign in again.</p>`);
    return true;
  }
}

const handler = provider.callback();
const server = createServer(async (req, res) => {
  const url = new URL(req.url, issuer);
  if (await interaction(req, res, url)) return;
  handler(req, res);
});
server.listen(port, '127.0.0.1', () => {
  console.log(`OpenID provider ready at ${issuer} (client ${CLIENT_ID}; redirect URIs ${redirectUris.join(', ')})`);
});
