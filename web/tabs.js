// One OpenID Connect sign-in across a browser's tabs. Each tab keeps its session in its own
// sessionStorage (never on the device: when the last tab closes, it is gone), and the tabs of
// one origin share it over a BroadcastChannel, in memory only. Why: the provider rotates refresh
// tokens, so two tabs holding the same one (a duplicated tab) must not both spend it, and a new
// tab need not go to the provider when another tab is signed in (the provider's own session
// cookie would let it straight in anyway). See docs/decisions.md, "One sign-in across tabs".
//
// A session shared this way carries `lineage` (random, per sign-in at the provider) and `gen`
// (renewals so far). Tabs share only within a lineage and its user, and only forwards: a tab
// never takes a different user's or sign-in's session, nor an older one. A sign-out, though,
// reaches every tab signed in as its person, whatever the sign-in, and a tab that missed it
// (frozen, or restored later) offers nothing from before it (auth.js, signedOutSince).
//
// Web Locks:
// * `groupshare.renewal:<lineage>` (exclusive): one tab renews at a time.
// * `groupshare.held:<lineage>:<gen>` (shared), held by every tab holding that session, for as
//   long as it does. A tab whose turn to renew comes reads the held names: if a live tab holds
//   a newer `gen`, it asks for it instead of spending its refresh token, whatever order the
//   lock and the peer's message arrive in (a tab holding a lock is alive to answer; one that
//   gives nothing leaves this tab signed out, never spending a token it knows is spent).
// A tab no longer signed in to a sign-in spends, holds and offers nothing of it.
//
// The `local` and `paste` kinds have no lineage: their tabs stay independent (the demo signs in
// as alice in one tab and bob in another).

import { signedOutSince } from './auth.js';

const CHANNEL = 'groupshare.session';
const RENEWAL = 'groupshare.renewal:';
const HELD = 'groupshare.held:';
/** How long a tab waits for a live peer's answer: it asks only when a live tab holds a newer
 *  session, or after a refusal while tabs of its sign-in are open, so this bounds a frozen or
 *  closing tab (or a sign-in the provider ended for all), not the usual case. */
const ANSWER_MS = 5_000;
/** How long a tab waits for its turn to renew. A turn takes at most a few token requests, each
 *  bounded (auth.js), and two ANSWER_MS waits; a tab that holds the lock longer is frozen or
 *  stuck, and the tab waiting for it keeps its token while it lasts and tries again. */
const TURN_MS = 45_000;

export function createTabs(app) {
  const supported = typeof BroadcastChannel === 'function' && !!(navigator.locks && navigator.locks.request);
  const id = Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, '0')).join('');
  const channel = supported ? new BroadcastChannel(CHANNEL) : null;
  /** The session whose held lock this tab holds, and how to let go of it. */
  let held = null;
  let release = null;
  /** Whether this tab, started without a session, still takes one a peer offers. */
  let asking = false;
  const waiters = new Set();

  const shared = (s) => !!(supported && s && s.lineage);
  const oidc = () => app.tokens && app.tokens.kind === 'oidc';
  const live = (s) => Date.parse(s.expires_at) > Date.now() + 10_000;
  const sameSignIn = (a, b) => shared(a) && shared(b) && a.user === b.user && a.lineage === b.lineage;
  const newer = (candidate, than) => sameSignIn(candidate, than) && candidate.gen > than.gen && live(candidate);
  const post = (message) => channel && channel.postMessage({ ...message, from: id });

  if (channel) {
    channel.onmessage = ({ data }) => {
      if (!data || data.from === id) return;
      if (data.type === 'ask') {
        // A new tab asks for any session; a tab about to renew, for a newer one of its own.
        // Never a session its person has since signed out of (this tab missed the sign-out:
        // frozen, or restored with its session).
        const s = held;
        if (s && live(s) && !signedOutSince(s) && (!data.lineage || (data.lineage === s.lineage && data.user === s.user && s.gen > data.gen))) {
          post({ type: 'session', to: data.from, session: s });
        }
      } else if (data.type === 'session') {
        const s = data.session;
        if (app.session ? newer(s, app.session) : (asking && data.to === id && shared(s) && live(s))) {
          asking = false;
          app.adoptSession(s);
        }
        for (const waiter of waiters) waiter(s);
      } else if (data.type === 'signout') {
        // A tab still asking takes no answer sent before the sign-out (senders are unordered).
        asking = false;
        // Whatever sign-in this tab's session came from: the person signed out, and the
        // provider's session the other sign-ins rode on has ended. Lineage only matters for
        // taking a session. One of another sign-in also revokes its own refresh token.
        const s = app.session;
        if (oidc() && s && s.user === data.user) {
          app.signOut(null, { elsewhere: true, revoke: s.lineage !== data.lineage });
        }
      }
    };
  }

  /** Holds `session`'s lock (and lets go of the one before), resolving once it is held. */
  function hold(session) {
    if (held === session) return Promise.resolve();
    if (release) release();
    held = null;
    release = null;
    if (!shared(session)) return Promise.resolve();
    held = session;
    return new Promise((granted) => {
      navigator.locks.request(`${HELD}${session.lineage}:${session.gen}`, { mode: 'shared' }, () => new Promise((done) => {
        granted();
        if (held === session) release = done;
        else done(); // let go of meanwhile
      }));
    });
  }

  /** A newer session of `session`'s sign-in held by this tab or a live peer, or null. After a
   *  refusal (`refused`), any live peer of the sign-in is asked: one that renewed may not hold
   *  its new session's lock yet. */
  async function newerThan(session, refused = false) {
    const mine = [app.session, held].find((s) => s && newer(s, session));
    if (mine) return mine;
    const { held: locks = [] } = await navigator.locks.query();
    const gens = locks.flatMap(({ name }) => {
      const [lineage, gen] = (name || '').startsWith(HELD) ? name.slice(HELD.length).split(':') : [];
      return lineage === session.lineage ? [Number(gen)] : [];
    });
    const ahead = gens.some((gen) => gen > session.gen);
    const peers = gens.length > (held && held.lineage === session.lineage ? 1 : 0);
    if (!ahead && !(refused && peers)) return null;
    const answer = await new Promise((resolve) => {
      const done = (s) => {
        clearTimeout(timer);
        waiters.delete(waiter);
        resolve(s);
      };
      const waiter = (s) => { if (newer(s, session)) done(s); };
      const timer = setTimeout(() => done(null), ANSWER_MS);
      waiters.add(waiter);
      post({ type: 'ask', lineage: session.lineage, user: session.user, gen: session.gen });
    });
    // A live tab holds a newer session but gave none: this tab's refresh token has been spent
    // (rotated), and spending it again would have the provider revoke the whole sign-in.
    if (!answer && ahead && !refused) throw new Error('Another tab renewed this sign-in but did not share it.');
    return answer;
  }

  /** Whether this tab still holds `session`'s sign-in (not signed out, by the person in any
   *  tab or by a refused token, nor signed in as someone else meanwhile). */
  const stillHolds = (session) => sameSignIn(app.session, session);

  return {
    hold,
    /** At start-up without a session: the open tabs are asked, and the first live session
     *  offered is adopted (`app.adoptSession`). Nothing waits for the answer. */
    ask() {
      if (!channel) return;
      asking = true;
      post({ type: 'ask' });
    },
    /** No session offered from now on is taken (the person signs in, or has chosen not to be). */
    stopAsking() {
      asking = false;
    },
    /**
     * `session` renewed by `refresh`, one tab at a time per sign-in. A tab whose turn comes
     * after a peer renewed takes the peer's session instead of spending the old refresh token
     * (the provider would take a second use for theft and end the sign-in); so does one whose
     * renewal is refused while a newer session exists. A renewed session is held and offered
     * to the other tabs before the next tab's turn.
     */
    async renew(session, refresh) {
      if (!shared(session)) return refresh(session);
      // Bounded: a frozen or stuck tab holding the lock must not hang this one's API calls.
      const signal = AbortSignal.timeout(TURN_MS);
      return navigator.locks.request(`${RENEWAL}${session.lineage}`, { signal }, async () => {
        // Signed out while waiting (or while the token request was out): nothing is spent, held
        // or offered, or a new tab would be signed in by a tab the person signed out of.
        if (!stillHolds(session)) return null;
        const peer = await newerThan(session);
        if (peer) return peer;
        let next;
        try {
          next = await refresh(session);
        } catch (e) {
          const later = !e.network && stillHolds(session) && (await newerThan(session, true));
          if (later) return later;
          throw e;
        }
        if (!stillHolds(session)) return null;
        await hold(next);
        post({ type: 'session', session: next });
        return next;
      }).catch((e) => {
        if (e.name !== 'AbortError' && e.name !== 'TimeoutError') throw e;
        // Not a refusal: the session serves while it lasts, and renewal is tried again.
        throw Object.assign(new Error('Another tab is still renewing this sign-in.'), { network: true });
      });
    },
    /** The person chose to sign out: every tab signed in as them signs out too. */
    signedOut(session) {
      asking = false;
      if (oidc() && session) post({ type: 'signout', user: session.user, lineage: session.lineage });
      hold(null);
    },
    /** Signed out by the app (expiry, refusal): the other tabs keep their session. */
    dropped() {
      asking = false;
      hold(null);
    },
  };
}
