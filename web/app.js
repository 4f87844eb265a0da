// The reference client's shell: loads config.json, keeps the session, routes between screens by
// the URL hash (so it runs from any static host with no server rewrites) and shows every error
// it meets as text — never a blank screen. While signed in, one WebSocket (live.js) brings new
// messages as they are sent, and readstate.js keeps every group's unread count (and the tab's
// title) current from them.

import { createApi } from './api.js';
import { clearSession, loadSession, noteSignOut, saveSession, sessionExpiredAtLoad, tokenSource } from './auth.js';
import { h, render } from './dom.js';
import { createLive } from './live.js';
import { createPeople } from './people.js';
import { createReadState } from './readstate.js';
import { createTabs } from './tabs.js';
import { signInView } from './views/signin.js';
import { groupsView } from './views/groups.js';
import { groupView } from './views/group.js';
import { allFilesView } from './views/allfiles.js';
import { inviteView } from './views/invite.js';
import { profileView } from './views/profile.js';
import { forgetUploads, stopUploads } from './views/uploads.js';

// Where a signed-out visitor was going (an invite link, a group's address): after sign-in.
const AFTER_SIGN_IN = 'groupshare.after-sign-in';
// This tab's person chose to sign out: coming back from the provider, it asks no other tab for
// a session.
const SIGNED_OUT = 'groupshare.signed-out';
const EXPIRED = 'Your sign-in has expired. Please sign in again.';

const view = document.getElementById('view');
const banner = document.getElementById('banner');
const sessionBar = document.getElementById('session');

const app = {
  config: null,
  session: loadSession(),
  api: null,
  limits: null,
  /** Shows a message above the screen (errors from the API carry the API's own message). */
  notify(message, kind = 'error') {
    banner.hidden = !message;
    banner.className = `banner ${kind}`;
    render(banner, message || '');
  },
  signIn(session) {
    this.session = session;
    this.me = null;
    this.people = createPeople(this.api); // names seen as someone else are not this user's
    this.readState.reset(); // likewise the groups
    saveSession(session);
    sessionStorage.removeItem(SIGNED_OUT);
    this.tabs.stopAsking();
    this.tabs.hold(session);
    scheduleRenewal();
    // replaceState, not `location.hash =`: a hashchange would route a second time and draw
    // the screen twice.
    history.replaceState(null, '', sessionStorage.getItem(AFTER_SIGN_IN) || '#/');
    sessionStorage.removeItem(AFTER_SIGN_IN);
    route();
  },
  /** The caller's own profile, once per sign-in (the first call also records the sign-in). */
  async loadMe() {
    if (this.me && this.me.user_id === this.session.user) return this.me;
    const me = await this.api.me();
    this.setMe(me);
    return me;
  },
  setMe(me) {
    this.me = me;
    this.people.set(me.user_id, { ...me, signed_in: true });
    renderSessionBar();
  },
  /** A session another tab offers (tabs.js: this tab had none, or an older one of the same
   *  sign-in, which a peer renewed). */
  adoptSession(session) {
    if (!this.session) {
      this.signIn(session); // to where this tab was going (its deep link)
      return;
    }
    this.session = session;
    saveSession(session);
    this.tabs.hold(session);
    scheduleRenewal();
    reconnectLive();
  },
  /** `reason`: signed out by the app (an expired or refused token), not by the person: the
   *  provider's session stays, so signing in again may need no password. `elsewhere`: the
   *  person signed out in another tab (`revoke`: of another sign-in, whose refresh token that
   *  tab did not hold). */
  signOut(reason, { elsewhere = false, revoke = false } = {}) {
    const previous = this.session;
    this.live.stop();
    this.readState.reset();
    // Nothing of theirs stays on screen or goes on: the full-screen view and the Forward
    // dialog (outside #view) close, and uploads stop.
    for (const dialog of document.querySelectorAll('dialog[open]')) dialog.close();
    stopUploads();
    this.session = null;
    this.me = null;
    this.people = createPeople(this.api);
    clearSession();
    // Replaced, not assigned: a hashchange would route again later and clear the reason. A
    // refused or expired token keeps the page the person was on (an invite link, a group) for
    // after signing in again, as route() keeps a deep link opened signed out; a chosen sign-out
    // keeps nothing for the next person.
    if (!reason) history.replaceState(null, '', '#/signin');
    route();
    if (reason) {
      this.tabs.dropped(); // the other tabs keep theirs
      this.notify(reason);
      return;
    }
    // The person chose to sign out (a shared computer, perhaps): their unsent drafts and
    // upload resume keys go too (a refused token keeps them for the same person's sign-in), and
    // the identity provider's session ends (it navigates there and back), or the next "Sign in"
    // would let them straight back in.
    for (const key of Object.keys(sessionStorage)) {
      if (key.startsWith('groupshare.draft:')) sessionStorage.removeItem(key);
    }
    forgetUploads();
    if (elsewhere) {
      // The tab it was chosen in ends the provider's session.
      if (revoke && previous && this.tokens.revoke) this.tokens.revoke(previous);
      this.tabs.dropped();
      this.notify('You signed out in another tab.', 'info');
      return;
    }
    // Before telling the tabs: from now on no tab keeps, offers or reloads a session of
    // theirs from before this moment (one that missed the broadcast, a restored tab).
    if (previous && this.tokens.kind === 'oidc') noteSignOut(previous.user);
    this.tabs.signedOut(previous);
    // Read when the page is back from the provider: it asks no tab for a session. Any oidc
    // session, with a lineage or not (one stored before tabs shared), since the other tabs
    // would offer theirs; a demo sign-out leaves nothing stored.
    if (previous && this.tokens.kind === 'oidc') sessionStorage.setItem(SIGNED_OUT, '1');
    if (previous && this.tokens.signOut) this.tokens.signOut(previous).catch((e) => this.notify(e.message));
  },
  /**
   * The session's token, renewed first when it is about to expire and the token source can
   * renew it without the person (a refresh token, or the local stack's token route; a pasted
   * token cannot: sign in again). Null once signed out.
   */
  async freshToken() {
    const session = this.session;
    if (!session) return null;
    if (Date.parse(session.expires_at) > Date.now() + 60_000) return session.token;
    // A renewal that could not be had (offline, another tab's turn never ending) is tried again
    // at its time, not by every call meanwhile: each would wait as long again.
    if (!this.renewal && this.renewalRetryAt > Date.now() && Date.parse(session.expires_at) > Date.now()) return session.token;
    if (!this.tokens.refresh) {
      this.signOut(EXPIRED);
      return null;
    }
    // One renewal at a time, in this tab and across the tabs sharing the sign-in (tabs.js):
    // providers rotate refresh tokens, and a second use of the old one is taken for theft (the
    // whole sign-in is revoked).
    if (!this.renewal) {
      this.renewal = this.tabs.renew(session, (s) => this.tokens.refresh(s)).finally(() => { this.renewal = null; });
    }
    let next;
    try {
      next = await this.renewal;
    } catch (e) {
      if (this.session !== session) return this.session && this.session.token;
      // Not reaching the provider (offline, a laptop's network still waking) is not a refusal:
      // the token serves while it lasts, and renewal is tried again shortly.
      if (e.network && Date.parse(session.expires_at) > Date.now()) {
        this.renewalRetryAt = Date.now() + RENEWAL_RETRY_MS;
        scheduleRenewal(RENEWAL_RETRY_MS);
        return session.token;
      }
      this.signOut(`Please sign in again: ${e.message}`);
      return null;
    }
    if (this.session !== session) return this.session && this.session.token; // renewed or signed out meanwhile
    this.session = next;
    saveSession(next);
    this.tabs.hold(next); // a peer's session, taken at this tab's turn, is held (and offered) too
    scheduleRenewal();
    return next.token;
  },
};

let renewalTimer = null;
/** After a renewal that could not reach the provider, the next try. */
const RENEWAL_RETRY_MS = 5_000;

/**
 * Renews the session a minute before it expires, while the tab is open (API calls and the live
 * socket then never meet an expired token), and reconnects the live socket with the new token:
 * the socket's authorizer saw the old one.
 */
function scheduleRenewal(retryMs) {
  clearTimeout(renewalTimer);
  const session = app.session;
  if (!session || !app.tokens.refresh) return;
  const due = retryMs ?? Date.parse(session.expires_at) - 60_000 - Date.now();
  renewalTimer = setTimeout(async () => {
    app.renewalRetryAt = 0; // its time has come
    const token = await app.freshToken();
    if (token && app.session && app.session !== session) reconnectLive();
  }, Math.max(0, due));
}

/** The session the live socket last reconnected for: a renewal and a peer's renewed session
 *  arriving together reconnect it once. */
let liveFor = null;
function reconnectLive() {
  if (liveFor === app.session) return;
  liveFor = app.session;
  app.live.stop();
  app.live.start();
  renderSessionBar();
}

// Which screen is current, and what the current one undoes when it is left.
let screenGen = 0;
let cleanups = [];

async function route() {
  const mine = ++screenGen;
  // The screen left stops its work now, even one still loading: a slow answer must neither
  // draw over the screen the person moved to nor keep following a group behind it.
  for (const f of cleanups.splice(0)) f();
  const screen = {
    current: () => mine === screenGen,
    /** `f` runs when the screen is left; at once when it was left already. */
    onCleanup(f) {
      if (!f) return;
      if (mine === screenGen) cleanups.push(f);
      else f();
    },
  };
  app.notify(null);
  renderSessionBar();
  const path = location.hash.replace(/^#/, '') || '/';
  if (!app.session) {
    if (path !== '/signin') {
      // Where the person was going (an invite link, a group): back there after sign-in, by
      // the provider's redirect (`returnTo`) or by a sign-in on this page.
      app.returnTo = location.hash;
      if (path !== '/') sessionStorage.setItem(AFTER_SIGN_IN, `#${path}`);
      history.replaceState(null, '', '#/signin');
    }
    screen.onCleanup(signInView(view, app));
    return;
  }
  sessionStorage.removeItem(AFTER_SIGN_IN); // arrived (a provider's redirect restores it itself)
  app.live.start(); // once per sign-in; later routes find it running
  app.readState.start().catch(() => {}); // the groups' unread counts, for the tab's title too
  app.loadMe().catch(() => {}); // the name in the top bar; screens work without it
  const group = path.match(/^\/g\/([^/]+)(?:\/(files|members))?$/);
  const invite = path.match(/^\/invite\/([^/]+)$/);
  // Each view draws only while `screen.current()`, and registers what stops its work with
  // `screen.onCleanup` as it starts it.
  try {
    if (group) {
      await groupView(view, app, decodeURIComponent(group[1]), group[2] || 'messages', screen);
    } else if (invite) {
      await inviteView(view, app, decodeURIComponent(invite[1]), screen);
    } else if (path === '/files') {
      await allFilesView(view, app, screen);
    } else if (path === '/me') {
      await profileView(view, app, screen);
    } else {
      await groupsView(view, app, screen);
    }
  } catch (e) {
    // A 401 has already gone back to the sign-in screen; a screen left says nothing.
    if (app.session && screen.current()) showFailure(e);
  }
}

function showFailure(e) {
  render(view, h('section', { class: 'panel empty' },
    h('h1', {}, 'Something went wrong'),
    h('p', { role: 'alert' }, e.message || String(e)),
    h('p', {}, h('a', { href: '#/' }, 'Back to my groups'))));
}

function renderSessionBar() {
  if (!app.session) return render(sessionBar);
  // The provider's name until the profile (GET /me) answers.
  if (app.session.name && app.people.get(app.session.user) === undefined) {
    app.people.set(app.session.user, { user_id: app.session.user, display_name: app.session.name, signed_in: true });
  }
  render(sessionBar,
    h('a', { class: 'who', href: '#/me', title: `Your profile (${app.session.user})`, dataset: { user: app.session.user } },
      app.people.avatar(app.session.user),
      h('span', {}, h('span', { class: 'sr-only' }, 'Signed in as '), app.people.person(app.session.user))),
    app.live.indicator,
    h('button', { type: 'button', class: 'ghost', onclick: () => app.signOut() }, 'Sign out'));
}

// A failure nobody caught still reaches the reader.
window.addEventListener('unhandledrejection', (e) => app.notify(e.reason?.message || String(e.reason)));
window.addEventListener('error', (e) => app.notify(e.message));

async function start() {
  try {
    const response = await fetch('config.json', { cache: 'no-cache' });
    if (!response.ok) throw new Error(`config.json: ${response.status}`);
    app.config = await response.json();
    app.tokens = tokenSource(app.config);
  } catch (e) {
    render(view, h('section', { class: 'panel empty' }, h('h1', {}, 'Cannot start'), h('p', { role: 'alert' }, e.message)));
    return;
  }
  app.api = createApi({
    base: app.config.api || '',
    getToken: () => app.freshToken(),
    // API Gateway's authorizer (or the local one) refused the token: sign in again.
    onUnauthorized: (error) => app.signOut(`Please sign in again: ${error.message}`),
  });
  app.people = createPeople(app.api);
  app.live = createLive(app);
  app.readState = createReadState(app);
  app.tabs = createTabs(app);
  const choseToSignOut = sessionStorage.getItem(SIGNED_OUT);
  sessionStorage.removeItem(SIGNED_OUT);
  // Back from the identity provider's sign-in page: exchange its answer for a session.
  let failure = null;
  if (app.tokens.completeSignIn) {
    try {
      const session = await app.tokens.completeSignIn();
      if (session) {
        app.session = session;
        saveSession(session);
      }
    } catch (e) {
      failure = e.message;
    }
  }
  if (app.session) app.tabs.hold(app.session);
  scheduleRenewal();
  window.addEventListener('hashchange', route);
  const routed = route(); // the sign-in screen at once, and the deep link kept for after it
  // Signed in in another tab? Its answer signs this one in, to the deep link; nothing waits.
  if (!app.session && !failure && !choseToSignOut) app.tabs.ask();
  await routed;
  if (failure) app.notify(failure);
  else if (!app.session && sessionExpiredAtLoad()) app.notify(EXPIRED);
}

start();
