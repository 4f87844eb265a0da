// Push: one WebSocket per signed-in tab, over which the API sends every message appended to any
// group the user is in, as it happens (`{"type":"message", conversation_id, message, newer}`,
// `message` exactly as a page of history shows it), and the user's read marker when it moves on
// one of their devices (`{"type":"read", conversation_id, read_seq}`, for readstate.js). Push only speeds things up; history stays
// the truth. So an open group (follow) fills any gap in seq, and whatever was sent while no
// socket was open, from `GET …/messages?after=`, and asks history at a slow pace while the
// socket is down.
//
// The URL is config.json's `websocket_url` (deployed: the WebSocket API's), else the API's own
// origin with `/ws` (the local stack serves both on one port). Browsers cannot set headers on a
// WebSocket, so the bearer token goes in the query string.

import { h, render } from './dom.js';

/** Keep-alive: API Gateway closes a socket idle for 10 minutes. */
const PING_MS = 5 * 60 * 1000;
/** Retry delays: 1 s doubling to at most 30 s, each with jitter (backoffDelay). */
const RETRY_BASE_MS = 1000;
const RETRY_MAX_MS = 30 * 1000;

/** The wait before the next try after `failures` in a row: an exponential delay with jitter, so
 *  clients dropped together (a deployment, a network change, a throttled API) do not all come
 *  back in the same instant. Reconnecting here and older history pages use it. */
export function backoffDelay(failures) {
  const ceiling = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** failures);
  return ceiling / 2 + Math.random() * ceiling / 2;
}

/** The tab's connection: `start()` after sign-in, `stop()` at sign-out. */
export function createLive(app) {
  const listeners = new Set();
  // Shown in the top bar; role=status so a screen reader hears when push drops or returns.
  const indicator = h('span', { class: 'live-state', role: 'status' });
  let running = false;
  let socket = null;
  let connected = false;
  let attempts = 0;
  let retryTimer = null;
  let pingTimer = null;

  function setState(state) {
    connected = state === 'live';
    indicator.className = `live-state ${state}`;
    indicator.title = {
      live: 'New messages arrive as they are sent',
      connecting: 'Connecting for new messages…',
      offline: 'Reconnecting; new messages are fetched now and then meanwhile',
    }[state];
    render(indicator, h('span', { class: 'live-label' }, { live: 'Live', connecting: 'Connecting…', offline: 'Offline' }[state]));
  }
  setState('connecting');

  function emit(event) {
    for (const listener of listeners) listener(event);
  }

  function socketUrl(token) {
    const configured = app.config.websocket_url;
    const url = new URL(configured || `${app.config.api || ''}/ws`, location.href);
    // An https page can only open wss: (and an API base is written as http(s)).
    if (url.protocol === 'https:') url.protocol = 'wss:';
    if (url.protocol === 'http:') url.protocol = 'ws:';
    url.searchParams.set('token', token);
    return url;
  }

  async function connect() {
    retryTimer = null;
    if (!running || socket) return;
    // A token about to expire is renewed first: the handshake's 401 is invisible to a page
    // (the socket just fails), so an expired token would otherwise fail forever.
    const token = await app.freshToken().catch(() => null);
    if (!running || socket) return;
    if (!token) return retry();
    const ws = new WebSocket(socketUrl(token));
    socket = ws;
    let opened = false;
    ws.addEventListener('open', () => {
      if (socket !== ws) return;
      opened = true;
      attempts = 0;
      setState('live');
      clearUnreachable(app);
      pingTimer = setInterval(() => ws.send(JSON.stringify({ action: 'ping' })), PING_MS);
      // Open groups catch up: what was sent while no socket was open never arrives as a frame.
      emit({ type: 'open' });
    });
    ws.addEventListener('message', (e) => {
      if (socket !== ws) return;
      let frame;
      try {
        frame = JSON.parse(e.data);
      } catch {
        return;
      }
      // Frame types this client does not know are ignored (the protocol may grow).
      if (frame && frame.type === 'message' && frame.message && frame.conversation_id) {
        emit({ type: 'frame', frame });
      }
      // The user's read marker moved on one of their devices (readstate.js).
      if (frame && frame.type === 'read' && frame.conversation_id && Number.isInteger(frame.read_seq)) {
        emit({ type: 'read', frame });
      }
    });
    ws.addEventListener('close', () => {
      if (socket !== ws) return;
      socket = null;
      clearInterval(pingTimer);
      if (!running) return;
      setState('offline');
      emit({ type: 'down' });
      // A socket that was open (API Gateway ends them after 2 hours) is replaced at once;
      // failures back off.
      if (opened) attempts = 0;
      retry();
    });
  }

  /** The next attempt after a back-off (backoffDelay). */
  function retry() {
    if (!running || retryTimer) return;
    const delay = backoffDelay(attempts);
    attempts += 1;
    retryTimer = setTimeout(connect, delay);
  }

  // The browser knows the network is gone: say so now (an open socket may take minutes to
  // notice) and let open groups fall back to polling, which resumes when it returns.
  window.addEventListener('offline', () => {
    if (!running) return;
    const ws = socket;
    socket = null;
    clearInterval(pingTimer);
    if (ws) ws.close();
    setState('offline');
    emit({ type: 'down' });
    retry();
  });

  // The network is back: try now rather than at the end of a long delay.
  window.addEventListener('online', () => {
    if (running && !socket) {
      clearTimeout(retryTimer);
      retryTimer = null;
      attempts = 0;
      connect();
    }
  });

  return {
    indicator,
    /** Whether frames are arriving now (an open group polls only when they are not). */
    get connected() {
      return connected;
    },
    start() {
      if (running) return;
      running = true;
      attempts = 0;
      setState('connecting');
      connect();
    },
    stop() {
      running = false;
      clearTimeout(retryTimer);
      retryTimer = null;
      clearInterval(pingTimer);
      const ws = socket;
      socket = null;
      if (ws) ws.close();
      setState('connecting');
    },
    /** `listener({type: 'frame' | 'read', frame} | {type: 'open'} | {type: 'down'})`; returns
     *  unsubscribe. */
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/** What a request that never reached GroupShare says (api.js), or the browser's raw words. */
const UNREACHABLE = /^Could not reach GroupShare|Failed to fetch|NetworkError/;

/** A banner saying GroupShare could not be reached is stale once it answers again; any other
 *  message stays. */
function clearUnreachable(app) {
  const banner = document.getElementById('banner');
  if (banner && !banner.hidden && UNREACHABLE.test(banner.textContent)) app.notify(null);
}

/**
 * Keeps one open group's view current from `from` ({seq, newer}: its newest message from
 * history and that page's `newer` cursor). `apply(messages)` puts messages on screen in any
 * order (seqs it already shows are skipped; a `deleted` one replaces the message at its seq).
 *
 * Frames are taken in order: the next seq is applied, one already had is ignored unless it is a
 * tombstone, and a gap (a frame lost on the way) is filled from history, which already holds the
 * frame's message too. A (re)connect is followed by the same catch-up; while there is no socket,
 * history is asked every `poll_seconds` (and when the tab is shown again). `failed(error)`
 * hears what a catch-up could not do (the view knows what a 404 means). Returns `stop()`.
 */
export function follow(app, cid, from, apply, failed = (e) => app.notify(e.message)) {
  const pageSize = app.config.page_size || 30;
  let last = from.seq;
  let newer = from.newer;
  // One step at a time: a frame arriving during a catch-up is judged against its result.
  let chain = Promise.resolve();
  let catchingUp = false;
  let stopped = false;

  function step(task) {
    chain = chain.then(() => (stopped ? null : task())).catch((e) => {
      if (e.status !== 401 && !stopped) failed(e);
    });
    return chain;
  }

  /** Everything after the newest message had; a full page means there may be more. */
  async function catchUp() {
    if (!newer) return;
    for (;;) {
      const page = await app.api.messages(cid, { after: newer, limit: pageSize });
      newer = page.newer || newer;
      for (const m of page.messages) last = Math.max(last, m.seq);
      if (page.messages.length) await apply(page.messages);
      if (page.messages.length < pageSize || stopped) break;
    }
  }

  function catchUpOnce() {
    if (catchingUp) return chain;
    catchingUp = true;
    return step(async () => {
      try {
        await catchUp();
        clearUnreachable(app);
      } finally {
        catchingUp = false;
      }
    });
  }

  function onFrame(frame) {
    const m = frame.message;
    return step(async () => {
      if (m.seq <= last) {
        // Already had; but a tombstone replaces the message it deletes.
        if (m.kind === 'deleted') await apply([m]);
      } else if (m.seq === last + 1) {
        last = m.seq;
        newer = frame.newer;
        await apply([m]);
      } else {
        await catchUp();
      }
    });
  }

  // The fallback while push is down, counted from when it went down; never while it is up:
  // frames make polling needless. Every failed reconnect reports `down` again: a timer already
  // running is kept, or reconnects coming faster than `poll_seconds` would never let it fire.
  let timer = null;
  const poll = () => {
    if (!app.live.connected && !document.hidden) catchUpOnce();
  };
  function polling(on) {
    if (on && timer) return;
    clearInterval(timer);
    timer = on ? setInterval(poll, (app.config.poll_seconds || 30) * 1000) : null;
  }
  const unsubscribe = app.live.subscribe((event) => {
    if (event.type === 'frame' && event.frame.conversation_id === cid) onFrame(event.frame);
    if (event.type === 'open') {
      polling(false);
      catchUpOnce();
    }
    if (event.type === 'down') polling(true);
  });
  polling(!app.live.connected);
  document.addEventListener('visibilitychange', poll);
  // Whatever was appended between the view's history page and this subscription.
  catchUpOnce();

  return () => {
    stopped = true;
    unsubscribe();
    polling(false);
    document.removeEventListener('visibilitychange', poll);
  };
}
