// A group's messages as a chat window: oldest at the top, newest at the bottom, in a box of its
// own that scrolls while the composer stays below it. It opens at the first message the reader
// has not read (on any device), under a "New messages" divider, and what comes into view while
// the tab is shown counts as read (readstate.js moves the marker). Scrolling up loads older
// pages (`older` cursors) with what is in view kept where it is; a "new messages" button appears
// when something arrives while the reader is further up; a heading starts each day. Under every file
// message its download entry (one batch file-info request per page of history, never one per
// file). New messages are pushed (live.js: frames over the WebSocket, gaps and reconnects
// filled with `after`). Files are shared by picking, dropping or pasting them (uploads.js).

import { newId } from '../api.js';
import { h, render } from '../dom.js';
import { CLOCK_MS, dayKey, dayLabel, fromNow, isDeletion, refreshTimes, when } from '../format.js';
import { backoffDelay, follow } from '../live.js';
import { fileCard } from './files.js';
import { acceptFiles, createUploads } from './uploads.js';

/** How near the top of the history the next older page starts loading. */
const SCROLL_MARGIN_PX = 200;
/** Messages of one person this close together read as one run (markDays). */
const RUN_MS = 5 * 60 * 1000;
/** Within this of the bottom the reader is at the newest message, and new ones keep it in view. */
const BOTTOM_SLACK_PX = 40;

export async function messagesTab(panel, app, cid, group, onCleanup, hooks) {
  const pageSize = app.config.page_size || 30;
  const history = h('ol', { class: 'history', 'aria-label': 'Messages, oldest first' });
  const sentinel = h('div', { class: 'sentinel', 'aria-hidden': 'true' });
  const olderButton = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Load older messages');
  const beginning = h('p', { class: 'muted small center', hidden: true }, 'This is the beginning of the group.');
  // Focusable, so the keyboard can scroll it (Page Up loads older messages too).
  const scroller = h('div', { class: 'scroller', role: 'region', tabindex: 0, 'aria-label': `Messages in ${group.title}` },
    beginning, olderButton, sentinel, history);
  const newMessages = h('button', { type: 'button', class: 'new-messages', hidden: true });
  const live = h('p', { class: 'sr-only', role: 'status', 'aria-live': 'polite' });
  const dropHint = h('div', { class: 'drop-hint', hidden: true, 'aria-hidden': 'true' },
    h('p', {}, `Drop files to share them in ${group.title}`));
  const cards = new Map(); // file id → file card
  // Where the reader left off when the group opened (the same on all their devices); the
  // divider stays above the first message after it while the group is open.
  const readSeq = Math.min(group.read_seq ?? group.last_seq, group.last_seq);
  const divider = readSeq < group.last_seq
    ? h('li', { class: 'unread-divider', dataset: { before: readSeq + 1 } }, h('span', {}, 'New messages'))
    : null;
  const recallable = new Map(); // Recall/Delete button → its message
  const shown = new Set(); // seqs on screen
  let older = null;
  let loadingOlder = null;
  let olderFailures = 0; // in a row
  let olderRetryAt = 0; // no older page is asked for on its own before this
  let olderTimer = null;
  let olderStopped = false; // a 404 (no longer a member) or 401 (signed out): never again
  let atBottom = true;
  let unseen = 0;

  // Where the reader is, as of their last scroll: content growing or arriving does not move it.
  scroller.addEventListener('scroll', () => {
    atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight <= BOTTOM_SLACK_PX;
    if (atBottom) hideNewMessages();
  }, { passive: true });

  function toNewest() {
    scroller.scrollTop = scroller.scrollHeight;
    atBottom = true;
    hideNewMessages();
  }

  /** Opens at the first unread message: the divider at the top of the view (or the newest at
   *  the bottom, when everything after the divider fits). */
  function toDivider() {
    const top = scroller.getBoundingClientRect().top;
    scroller.scrollTop += divider.getBoundingClientRect().top - top - 8;
    atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight <= BOTTOM_SLACK_PX;
  }

  // What the reader has seen counts as read: a message at least half in view (or filling half
  // the view), while the tab is shown. readstate.js moves the marker (the server's at most every
  // 2 s) and the badges and title follow.
  const inView = new Set();
  const seenObserver = new IntersectionObserver((entries) => {
    for (const e of entries) {
      const enough = e.isIntersecting
        && (e.intersectionRatio >= 0.5 || e.intersectionRect.height >= e.rootBounds.height / 2);
      if (enough) inView.add(e.target);
      else inView.delete(e.target);
    }
    markSeen();
  }, { root: scroller, threshold: [0, 0.5, 1] });

  let positioned = false; // nothing counts as seen before the view is where it opens
  function markSeen() {
    if (!positioned || document.visibilityState !== 'visible') return;
    let newest = 0;
    for (const li of inView) {
      if (li.isConnected) newest = Math.max(newest, Number(li.dataset.seq));
      else inView.delete(li);
    }
    if (newest) app.readState.seen(cid, newest);
  }
  document.addEventListener('visibilitychange', markSeen);

  function hideNewMessages() {
    unseen = 0;
    newMessages.hidden = true;
  }

  newMessages.addEventListener('click', () => {
    toNewest();
    // The button goes: the keyboard stays in the history, at its newest message.
    scroller.focus({ preventScroll: true });
  });

  // A reader at the newest message stays there as what is shown grows (a card's file info, a
  // name, a picture, the window itself).
  const resizes = new ResizeObserver(() => {
    if (atBottom) scroller.scrollTop = scroller.scrollHeight;
  });
  resizes.observe(history);
  resizes.observe(scroller);

  /** The first message at least partly in view: what stays put while pages arrive above it. */
  function firstInView() {
    const top = scroller.getBoundingClientRect().top;
    for (const li of history.querySelectorAll(':scope > li[data-seq]')) {
      if (li.getBoundingClientRect().bottom > top) return li;
    }
    return null;
  }

  /** Runs `change` (things added or removed above the view) with what is in view kept in place. */
  function keepingView(change) {
    const anchor = atBottom ? null : firstInView();
    const before = anchor?.getBoundingClientRect().top;
    const result = change();
    if (atBottom) scroller.scrollTop = scroller.scrollHeight;
    // The browser's own scroll anchoring may have done it already (not at scrollTop 0): then
    // the difference is nothing.
    else if (anchor?.isConnected) scroller.scrollTop += anchor.getBoundingClientRect().top - before;
    return result;
  }

  /** Puts messages on screen in seq order, then asks for their files' info in one batch call. */
  async function show(messages, { reveal = false } = {}) {
    const fresh = keepingView(() => insert(messages));
    if (reveal) toNewest();
    const ids = fresh.filter((m) => m.kind === 'file' && m.file).map((m) => m.file.file_id);
    if (ids.length) await fillFileInfo(ids);
    return fresh;
  }

  /** The DOM part of show(); returns the messages new to the screen. */
  function insert(messages) {
    // Every deletion is also announced by a system message naming the seq it deleted (a
    // recall by the sender, `message_recalled`; an owner's or admin's, `message_deleted`), so
    // reading on with `?after=` finds deletions of messages already on screen too.
    for (const m of messages) {
      if (m.kind === 'system' && m.system && isDeletion(m.system.event) && m.system.seq) {
        replace({ ...tombstoneOf(m.system.seq), deleted: { by: m.sender, at: m.sent_at } });
      }
    }
    // A pushed tombstone replaces the message it deletes.
    for (const m of messages) {
      if (m.kind === 'deleted' && shown.has(m.seq)) replace(m);
    }
    const fresh = messages.filter((m) => !shown.has(m.seq));
    for (const m of fresh) {
      shown.add(m.seq);
      place(messageItem(m));
    }
    markDays();
    return fresh;
  }

  async function fillFileInfo(ids) {
    const max = app.limits.max_ids_per_batch || 100;
    for (let i = 0; i < ids.length; i += max) {
      const batch = await app.api.filesByIds(cid, ids.slice(i, i + max));
      for (const info of batch.files) cards.get(info.file_id)?.update(info);
      for (const id of batch.missing) cards.get(id)?.update({ status: 'missing' });
    }
  }

  /** What a tombstone looks like for a seq already on screen (sender and time kept). */
  function tombstoneOf(seq) {
    const li = history.querySelector(`li[data-seq="${seq}"]`);
    return li ? { seq, kind: 'deleted', sender: li.dataset.sender, sent_at: li.dataset.sentAt } : null;
  }

  /** Swaps the message at `m.seq` (if on screen) for `m`. */
  function replace(m) {
    if (!m || !m.sender) return;
    const old = history.querySelector(`li[data-seq="${m.seq}"]`);
    if (!old) return;
    const item = messageItem(m);
    item.classList.toggle('continued', old.classList.contains('continued')); // same sender, same time
    old.replaceWith(item);
    seenObserver.observe(item);
  }

  /** Oldest first, by seq: a message sent here can reach the screen before push or a catch-up
   *  brings an earlier one from someone else. The unread divider sits just before its seq. */
  function place(item) {
    const key = (li) => (li === divider ? Number(li.dataset.before) - 0.5 : Number(li.dataset.seq));
    const seq = key(item);
    const after = [...history.querySelectorAll(':scope > li[data-seq], :scope > li.unread-divider')]
      .find((li) => key(li) > seq);
    history.insertBefore(item, after || null);
    if (item !== divider) seenObserver.observe(item);
  }

  /** A day's heading right before its first message, and nowhere else (pages arrive above,
   *  below and, rarely, between: the headings are checked where they are, not redrawn). And a
   *  message that follows one of the same person's within RUN_MS, with no heading, divider or
   *  event between, is drawn as its continuation: no second avatar and name, as chat windows
   *  do (the name stays for screen readers). */
  function markDays() {
    let previous = null; // the day of the message before
    let above = null; // the message right above, while a run can go on
    for (const li of [...history.children]) {
      if (li === divider) {
        above = null;
        continue;
      }
      const continues = !!above && !li.classList.contains('system') && above.dataset.sender === li.dataset.sender
        && above.dataset.day === li.dataset.day && Date.parse(li.dataset.sentAt) - Date.parse(above.dataset.sentAt) < RUN_MS;
      li.classList.toggle('continued', continues);
      above = li.dataset.seq && !li.classList.contains('system') ? li : null;
      if (li.classList.contains('day')) {
        const next = li.nextElementSibling;
        const belongs = next && next.dataset.seq && next.dataset.day === li.dataset.day && next.dataset.day !== previous;
        if (!belongs) li.remove();
        continue;
      }
      const day = li.dataset.day;
      const before = li.previousElementSibling;
      if (day !== previous && !(before?.classList.contains('day') && before.dataset.day === day)) {
        history.insertBefore(dayHeading(li.dataset.sentAt), li);
      }
      previous = day;
    }
  }

  async function remove(m, button) {
    // The window may have passed since the button was drawn: say so now, not after confirming.
    if (!deletable(m)) {
      button.remove();
      app.notify('The time to recall this message has passed.', 'info');
      return;
    }
    const recall = m.sender === app.session.user;
    const question = recall ? 'Recall this message for everyone?' : `Delete ${app.people.label(m.sender)}’s message for everyone?`;
    if (!window.confirm(question)) return;
    // Busy at once: under load the answer (and the file's removal) can take seconds.
    const item = button.closest('li');
    const label = button.textContent;
    item.setAttribute('aria-busy', 'true');
    button.disabled = true;
    button.textContent = recall ? 'Recalling…' : 'Deleting…';
    try {
      const done = await app.api.deleteMessage(cid, m.seq);
      keepingView(() => replace(done.message));
      if (done.system_message) await show([done.system_message]);
    } catch (err) {
      item.removeAttribute('aria-busy');
      button.disabled = false;
      button.textContent = label;
      hooks.failed(err);
    }
  }

  /** Whether the caller may take `m` back now: their own within the window, or any as owner/admin. */
  function deletable(m) {
    if (m.kind !== 'text' && m.kind !== 'file') return false;
    if (app.groupRole === 'owner' || app.groupRole === 'admin') return true;
    const windowMs = (app.limits.recall_window_seconds || 0) * 1000;
    return m.sender === app.session.user && Date.now() - Date.parse(m.sent_at) < windowMs;
  }

  // Previous/next in the full-screen view reach into older pages as well.
  const gallery = { earlier: { can: () => !!older, load: () => loadOlder() } };

  function messageItem(m) {
    const mine = m.sender === app.session.user;
    const dataset = { seq: m.seq, sender: m.sender, sentAt: m.sent_at, day: dayKey(m.sent_at) };
    if (m.kind === 'system') {
      return h('li', { class: 'msg system', dataset },
        h('span', {}, systemText(app, m)), ' · ', stamp(m.sent_at));
    }
    let body;
    if (m.kind === 'deleted') {
      const by = m.deleted && m.deleted.by;
      body = h('p', { class: 'text deleted muted' },
        by && by !== m.sender ? ['Message deleted by ', app.people.person(by)] : 'Message recalled');
    } else if (m.kind === 'file' && m.file) {
      // h3: under the day's h2 (headings in order).
      // A forwarded copy says so (the message or its file may carry `forwarded`).
      const card = fileCard(app, cid, { forwarded: m.forwarded, ...m.file }, { level: 3, gallery });
      cards.set(m.file.file_id, card);
      body = card.el;
    } else {
      body = h('p', { class: 'text' }, m.text || '');
    }
    const action = deletable(m)
      ? h('button', {
        type: 'button',
        class: 'link delete-message',
        'aria-label': mine ? 'Recall this message' : `Delete ${app.people.label(m.sender)}’s message`,
        onclick: (e) => remove(m, e.currentTarget),
      }, mine ? 'Recall' : 'Delete')
      : null;
    if (action) recallable.set(action, m);
    return h('li', { class: `msg${mine ? ' mine' : ''}${m.kind === 'deleted' ? ' tombstone' : ''}`, dataset },
      app.people.avatar(m.sender),
      h('div', { class: 'msg-body' },
        h('p', { class: 'msg-head' }, h('strong', {}, app.people.person(m.sender)), ' ', stamp(m.sent_at), action ? ' ' : null, action),
        body));
  }

  /**
   * The next older page, once at a time (the view and the full-screen view both ask); resolves
   * to whether it came. After a failure, nothing asks again on its own before the back-off
   * (`now`: the person pressed "Load older messages"); after a 404 or 401, nothing does.
   */
  function loadOlder({ now = false } = {}) {
    if (!older || olderStopped || !hooks.current()) return Promise.resolve(false);
    if (!loadingOlder && !now && Date.now() < olderRetryAt) return Promise.resolve(false);
    if (!loadingOlder) {
      loadingOlder = (async () => {
        let came = false;
        try {
          const page = await app.api.messages(cid, { before: older, limit: pageSize });
          older = page.older;
          await show(page.messages);
          olderFailures = 0;
          olderRetryAt = 0;
          came = true;
        } catch (e) {
          if (e.status === 404 || e.status === 401) olderStopped = true; // group.js goes on from there
          else retryOlderLater();
          hooks.failed(e);
        } finally {
          loadingOlder = null;
          keepingView(() => {
            olderButton.hidden = !older;
            beginning.hidden = !!older;
          });
        }
        // The observer reports changes only: reaching the top while this page (or its file
        // info) was loading was reported and ignored, so ask the geometry whether it is near.
        if (came) loadOlderIfNearTop();
        return came;
      })();
    }
    return loadingOlder;
  }

  function loadOlderIfNearTop() {
    if (older && sentinel.isConnected && nearTop()) loadOlder();
  }

  /** The back-off after a failure: tried again then if the reader is still at the top (a
   *  scroll back there later tries too, and so does the network coming back). */
  function retryOlderLater() {
    // live.js's reconnect pace: a throttled API or a lost network is not asked again at once.
    const delay = backoffDelay(olderFailures);
    olderFailures += 1;
    olderRetryAt = Date.now() + delay;
    clearTimeout(olderTimer);
    olderTimer = setTimeout(() => {
      olderRetryAt = 0; // its time has come (a timer may fire a fraction of a ms early)
      loadOlderIfNearTop();
    }, delay);
  }

  const backOnline = () => {
    olderFailures = 0;
    olderRetryAt = 0;
    loadOlderIfNearTop();
  };
  window.addEventListener('online', backOnline);

  function nearTop() {
    return sentinel.getBoundingClientRect().bottom > scroller.getBoundingClientRect().top - SCROLL_MARGIN_PX;
  }

  const uploads = createUploads(app, cid, (m) => show([m], { reveal: true }));
  render(panel,
    h('div', { class: 'history-box' }, scroller, newMessages),
    uploads.list,
    composer(app, cid, uploads, (m) => show([m], { reveal: true }), hooks),
    live, dropHint);
  onCleanup(acceptFiles(app, (files) => uploads.add(files), dropHint));
  // Started below once the history is on screen; stopped when the screen is left, whenever.
  let observer = null;
  let unfollow = null;
  let clock = null;
  onCleanup(() => {
    clearTimeout(olderTimer);
    window.removeEventListener('online', backOnline);
    clearInterval(clock);
    observer?.disconnect();
    seenObserver.disconnect();
    document.removeEventListener('visibilitychange', markSeen);
    resizes.disconnect();
    unfollow?.();
  });

  // The first page reaches back to the first unread message (history pages go up to 1,000).
  const unread = group.last_seq - readSeq;
  const maxPage = app.limits.max_history_page_limit || 1000;
  const first = await app.api.messages(cid, { limit: Math.min(maxPage, Math.max(pageSize, unread + 1)) });
  if (!hooks.current()) return;
  older = first.older;
  olderButton.hidden = !older;
  beginning.hidden = !!older;
  atBottom = !divider;
  await show(first.messages, { reveal: !divider });
  // More unread than a page: older pages until the first unread is on screen. A page that
  // fails ends this (the divider then opens at the top, where the back-off goes on), and so
  // does leaving the screen.
  while (divider && older && !history.querySelector(`li[data-seq="${readSeq + 1}"]`)) {
    if (!(await loadOlder({ now: true }))) break;
  }
  if (!hooks.current()) return;
  if (divider) {
    place(divider);
    markDays();
    toDivider();
  }
  positioned = true;
  markSeen();
  olderButton.addEventListener('click', () => loadOlder({ now: true }));

  // Infinite scroll: reaching the top of the history fetches the next older page.
  observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) loadOlder();
  }, { root: scroller, rootMargin: `${SCROLL_MARGIN_PX}px 0px 0px 0px` });
  observer.observe(sentinel);
  // New messages: pushed, with gaps and reconnects filled from history (live.js).
  const newest = Math.max(0, ...first.messages.map((m) => m.seq));
  unfollow = follow(app, cid, { seq: newest, newer: first.newer }, async (messages) => {
    hooks.membersChanged(messages);
    const reading = !atBottom;
    const fresh = await show(messages);
    if (!fresh.length) return;
    render(live, `${fresh.length} new message${fresh.length > 1 ? 's' : ''}`);
    // The reader is further up: the newest is one press away, and nothing moves under them.
    if (reading && !atBottom) {
      unseen += fresh.length;
      render(newMessages, `${unseen} new message${unseen > 1 ? 's' : ''}`, h('span', { 'aria-hidden': 'true' }, ' ↓'));
      newMessages.hidden = false;
    }
  }, hooks.failed);
  // Once a minute: relative times grow older, "Today" becomes "Yesterday" at midnight, and
  // Recall goes once its window has passed.
  clock = setInterval(() => {
    refreshTimes(history);
    for (const heading of history.querySelectorAll('li.day h2')) {
      const label = dayLabel(heading.closest('li').dataset.sentAt);
      if (heading.textContent !== label) heading.textContent = label;
    }
    for (const [button, m] of recallable) {
      if (!button.isConnected) recallable.delete(button);
      else if (!deletable(m)) {
        button.remove();
        recallable.delete(button);
      }
    }
  }, CLOCK_MS);
}

function dayHeading(iso) {
  return h('li', { class: 'day', dataset: { day: dayKey(iso), sentAt: iso } },
    h('h2', { class: 'day-label' }, dayLabel(iso)));
}

/** When a message was sent: relative, the exact time on hover (title) and, for the keyboard,
 *  on focus (shown beside it, and read with it). */
function stamp(iso) {
  return h('span', { class: 'stamp', tabindex: 0 },
    h('time', { datetime: iso, title: when(iso), class: 'muted small', dataset: { relative: '' } }, fromNow(iso)),
    h('span', { class: 'sr-only' }, ', '),
    h('span', { class: 'stamp-exact small' }, when(iso)));
}

/** A system message as a sentence, with people by name (the group list's previews too). */
export function systemText(app, m) {
  const s = m.system || {};
  const by = () => app.people.person(m.sender);
  const who = () => app.people.person(s.user_id);
  switch (s.event) {
    case 'conversation_created': return [who(), ' created the group'];
    case 'member_added': return [by(), ' added ', who(), s.role && s.role !== 'member' ? ` as ${s.role}` : ''];
    // The sender of `member_joined` is whose invite link let them in.
    case 'member_joined': return [who(), ' joined with ', by(), '’s invite link'];
    case 'member_removed': return [by(), ' removed ', who()];
    case 'member_left': return [who(), ' left the group'];
    case 'role_changed': return [who(), ` is now ${s.role}`];
    case 'message_deleted': return [by(), ' deleted a message from ', who()];
    case 'message_recalled': return [by(), ' recalled a message'];
    default: return s.event || 'system message';
  }
}

/** Text box, send button and file picker. `added(message)` puts a stored message on screen. */
function composer(app, cid, uploads, added, hooks) {
  const text = h('input', { id: 'compose', name: 'text', autocomplete: 'off', placeholder: 'Write a message', maxlength: 16384 });
  // The draft is kept per person and group for the tab's life: a refused token sends the
  // person to sign in again, and what they were writing is waiting when they come back.
  const draftKey = `groupshare.draft:${app.session.user}:${cid}`;
  text.value = sessionStorage.getItem(draftKey) || '';
  text.addEventListener('input', () => {
    if (text.value) sessionStorage.setItem(draftKey, text.value);
    else sessionStorage.removeItem(draftKey);
  });
  // A send whose answer never came may have been stored: sending the same text again reuses
  // its client_msg_id, so the API answers that message instead of storing a second one.
  let unanswered = null; // {text, id}
  const picker = h('input', { id: 'attach', type: 'file', class: 'file-input', multiple: true });
  picker.addEventListener('change', () => {
    uploads.add([...picker.files]);
    picker.value = '';
  });
  return h('form', {
    class: 'composer',
    async onsubmit(e) {
      e.preventDefault();
      const value = text.value.trim();
      if (!value) return;
      if (unanswered?.text !== value) unanswered = { text: value, id: newId() };
      try {
        const message = await app.api.sendText(cid, value, unanswered.id);
        unanswered = null;
        text.value = '';
        sessionStorage.removeItem(draftKey);
        await added(message);
      } catch (err) {
        hooks.failed(err);
      }
    },
  },
  h('label', { for: 'compose', class: 'sr-only' }, 'Message'),
  text,
  h('label', { for: 'attach', class: 'button secondary attach', title: 'Attach files (or drop or paste them here)' }, 'Attach'),
  picker,
  h('button', { type: 'submit', class: 'primary' }, 'Send'));
}
