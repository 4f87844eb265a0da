// Where the user left off, for every screen at once: each group's newest seq, last activity and
// last entry (a preview), the user's read marker and unread count. Read from
// `GET /conversations`, then kept current by push frames alone (docs/push.md, "Keeping a group
// list live"): a message frame moves its group to the top and, when the user sent it, their
// marker; a `read` frame moves the marker (it moved on another device); a frame of a group the
// list does not know, the user's own removal, or a reconnect reads the list again. The open
// group reports what the reader has seen (`seen`), which moves the marker here at once and on
// the server at most every 2 s per group. The tab's title shows the total unread; with the
// person's permission, a message or file arriving while the tab is hidden shows a desktop
// notification. Screens subscribe and paint from `list()`: one store, one paint per view.

const PAGE = 100;
const MAX_PAGES = 20;
/** The server's marker moves at most this often per group (the first move at once). */
const MARK_EVERY_MS = 2000;
const SNIPPET_CHARS = 100;
const TITLE = 'GroupShare';

export function createReadState(app) {
  const groups = new Map(); // conversation id → summary, as the API shapes it
  const listeners = new Set();
  const marks = new Map(); // conversation id → {want, sent, timer, at}
  let loading = null;
  let loadedOnce = false;
  let generation = 0; // a sign-out makes answers of the session before stale

  function changed() {
    paintTitle();
    for (const listener of listeners) listener();
  }

  function paintTitle() {
    const total = totalUnread();
    document.title = total > 0 ? `(${total}) ${TITLE}` : TITLE;
  }

  function totalUnread() {
    let total = 0;
    for (const g of groups.values()) total += g.unread_count;
    return total;
  }

  function recount(g) {
    g.read_seq = Math.min(g.read_seq, g.last_seq);
    g.unread_count = Math.max(0, g.last_seq - g.read_seq);
  }

  /** Every page of the caller's groups (each page reads them all on the server anyway). */
  async function fetchAll() {
    const all = [];
    let cursor = null;
    for (let i = 0; i < MAX_PAGES; i += 1) {
      const page = await app.api.conversations(cursor, PAGE);
      all.push(...page.conversations);
      cursor = page.cursor;
      if (!cursor) break;
    }
    return all;
  }

  /** Reads the list again (once for a burst of reasons); frames that came meanwhile and are
   *  newer than the answer stay. */
  function reload() {
    if (loading) return loading;
    const mine = generation;
    const load = fetchAll().then((list) => {
      if (mine !== generation) return;
      const next = new Map();
      for (const fresh of list) {
        const known = groups.get(fresh.conversation_id);
        if (known && known.last_seq > fresh.last_seq) {
          next.set(fresh.conversation_id, { ...fresh, ...pick(known), read_seq: Math.max(known.read_seq, fresh.read_seq) });
        } else {
          next.set(fresh.conversation_id, { ...fresh, read_seq: Math.max(known?.read_seq || 0, fresh.read_seq) });
        }
        recount(next.get(fresh.conversation_id));
      }
      groups.clear();
      for (const [cid, g] of next) groups.set(cid, g);
      loadedOnce = true;
      changed();
    }).finally(() => {
      if (loading === load) loading = null;
    });
    loading = load;
    return load;
  }

  function pick(g) {
    return { last_seq: g.last_seq, last_activity_at: g.last_activity_at, last_message: g.last_message };
  }

  function onMessage(frame) {
    const m = frame.message;
    const me = app.session && app.session.user;
    const event = m.kind === 'system' && m.system ? m.system.event : null;
    const g = groups.get(frame.conversation_id);
    if ((event === 'member_removed' || event === 'member_left') && m.system.user_id === me) {
      reload().catch(() => {});
      return;
    }
    if (!g) {
      if (loadedOnce) reload().catch(() => {});
      return;
    }
    if (m.seq > g.last_seq) {
      g.last_seq = m.seq;
      g.last_message = preview(m);
      // Activity never goes back (the server keeps the later of the two as well).
      if (Date.parse(m.sent_at) > Date.parse(g.last_activity_at)) g.last_activity_at = m.sent_at;
      notify(g, m);
    } else if (m.kind === 'deleted' && g.last_message && g.last_message.seq === m.seq) {
      g.last_message = { seq: m.seq, sender: m.sender, sent_at: m.sent_at, kind: 'deleted' };
    }
    // The user's own entries move their marker (a `member_joined` naming them as the inviter
    // is the joiner's: it does not).
    if (m.sender === me && event !== 'member_joined') g.read_seq = Math.max(g.read_seq, m.seq);
    recount(g);
    changed();
  }

  function onRead(frame) {
    const g = groups.get(frame.conversation_id);
    if (!g || frame.read_seq <= g.read_seq) return;
    g.read_seq = frame.read_seq;
    recount(g);
    changed();
  }

  /** A desktop notification for a message or file of someone else, while the tab is hidden. */
  function notify(g, m) {
    if (!document.hidden || !('Notification' in window) || Notification.permission !== 'granted') return;
    if (m.sender === app.session.user || (m.kind !== 'text' && m.kind !== 'file')) return;
    const who = app.people.label(m.sender);
    const body = m.kind === 'file' ? `${who} shared ${m.file ? m.file.name : 'a file'}` : `${who}: ${snippet(m.text || '')}`;
    try {
      const note = new Notification(g.title, { body, tag: `groupshare:${g.conversation_id}` });
      note.onclick = () => {
        window.focus();
        location.hash = `#/g/${encodeURIComponent(g.conversation_id)}`;
        note.close();
      };
    } catch {
      // Some browsers allow notifications only from a service worker: nothing to show then.
    }
  }

  /** Moves the server's marker to what was seen: at once, then at most every MARK_EVERY_MS. */
  function schedule(cid) {
    const mark = marks.get(cid);
    if (mark.timer || mark.want <= mark.sent) return;
    const wait = Math.max(0, mark.at + MARK_EVERY_MS - Date.now());
    mark.timer = setTimeout(() => send(cid), wait);
  }

  async function send(cid) {
    const mark = marks.get(cid);
    mark.timer = null;
    const seq = mark.want;
    mark.sent = seq;
    mark.at = Date.now();
    const mine = generation;
    try {
      const state = await app.api.markRead(cid, seq);
      if (mine === generation) onRead({ conversation_id: cid, read_seq: state.read_seq });
    } catch (e) {
      if (e.status === 404) reload().catch(() => {});
      else if (e.status !== 401) mark.sent = Math.min(mark.sent, seq - 1); // tried again with the next one
    }
    if (mine === generation) schedule(cid);
  }

  return {
    /** The groups, most recent activity first (ties by id, as the server orders them). */
    list() {
      return [...groups.values()].sort((a, b) =>
        Date.parse(b.last_activity_at) - Date.parse(a.last_activity_at)
        || (a.conversation_id < b.conversation_id ? -1 : a.conversation_id > b.conversation_id ? 1 : 0));
    },
    get: (cid) => groups.get(cid),
    get loaded() {
      return loadedOnce;
    },
    totalUnread,
    reload,
    /** After sign-in: follow the frames (once) and read the list. */
    start() {
      if (!this.unsubscribe) {
        this.unsubscribe = app.live.subscribe((event) => {
          if (event.type === 'frame') onMessage(event.frame);
          if (event.type === 'read') onRead(event.frame);
          if (event.type === 'open' && loadedOnce) reload().catch(() => {});
        });
      }
      return loadedOnce ? Promise.resolve() : reload();
    },
    /** At sign-out: nothing of this user stays. */
    reset() {
      generation += 1;
      loading = null; // an answer for the session before is dropped when it comes
      groups.clear();
      for (const mark of marks.values()) clearTimeout(mark.timer);
      marks.clear();
      loadedOnce = false;
      changed();
    },
    /** The reader has seen everything up to `seq` in `cid` (the open group reports it). */
    seen(cid, seq) {
      const g = groups.get(cid);
      if (g) {
        // What the view shows exists, whatever the list has heard of yet.
        g.last_seq = Math.max(g.last_seq, seq);
        if (seq > g.read_seq) {
          g.read_seq = seq;
          recount(g);
          changed();
        }
      }
      const mark = marks.get(cid) || { want: 0, sent: 0, timer: null, at: 0 };
      marks.set(cid, mark);
      if (seq <= mark.want) return;
      mark.want = seq;
      schedule(cid);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/** What the list shows of a message, cut as the server cuts it (docs/openapi.yaml, LastMessage). */
export function preview(m) {
  const base = { seq: m.seq, sender: m.sender, sent_at: m.sent_at, kind: m.kind };
  if (m.kind === 'text') return { ...base, text: snippet(m.text || '') };
  if (m.kind === 'file') return { ...base, file_name: m.file ? m.file.name : '' };
  if (m.kind === 'system') return { ...base, system: m.system };
  return base;
}

/** Whitespace runs as one space, at most 100 characters, `…` when cut. */
export function snippet(text) {
  const flat = text.split(/\s+/).filter(Boolean).join(' ');
  const chars = [...flat];
  return chars.length > SNIPPET_CHARS ? `${chars.slice(0, SNIPPET_CHARS).join('')}…` : flat;
}
