// A group: its history newest first (older pages on scroll, through `older` cursors), a download
// entry under every file message (one batch file-info request per page of history, never one per
// file), sending text, uploading files, adding members, and new messages as they are pushed
// (live.js: frames over the WebSocket, gaps and reconnects filled with `after`).

import { newId, postToS3, putPart, sha256Hex } from '../api.js';
import { h, render } from '../dom.js';
import { CLOCK_MS, fromNow, humanSize, isDeletion, refreshTimes, when } from '../format.js';
import { follow } from '../live.js';
import { fileCard, filesTab } from './files.js';
import { membersTab } from './members.js';

/** How near the end of the history the next older page starts loading. */
const SCROLL_MARGIN_PX = 200;

export async function groupView(view, app, cid, tab) {
  const cleanups = [];
  const onCleanup = (f) => cleanups.push(f);
  // One call for the header: a new device may open a group's address directly.
  const [group, limits] = await Promise.all([
    app.api.conversation(cid),
    app.limits || app.api.config(),
  ]);
  app.limits = limits;

  // A tab link was chosen: focus goes back to it once the new content is drawn.
  const fromTab = document.activeElement?.classList.contains('tab');
  const base = `#/g/${encodeURIComponent(cid)}`;
  const tabLink = (name, label, href) =>
    h('a', { class: 'tab', href, 'aria-current': tab === name ? 'page' : undefined }, label);
  const panel = h('div', { class: 'tab-panel' });
  const facts = h('p', { class: 'muted small group-facts' });
  const actions = h('div', { class: 'group-actions' });

  /** The header's member count, the caller's role and what that role may do. */
  function paintHead(g) {
    app.groupRole = g.role;
    const people = `${g.member_count} member${g.member_count === 1 ? '' : 's'}`;
    render(facts, `${people} · you are ${article(g.role)} ${g.role}`);
    const canAdd = g.role === 'owner' || g.role === 'admin';
    // Kept while the role allows it: a form being filled in is not thrown away.
    if (canAdd && !actions.children.length) render(actions, inviteForm(app, cid), addMemberForm(app, cid));
    if (!canAdd) render(actions);
    actions.hidden = !canAdd;
  }
  paintHead(group);

  let gone = false;
  /** The caller is no longer a member (removed, or left on another device): back to the list. */
  function lost() {
    if (gone) return;
    gone = true;
    // route() clears the banner when the address changes; its listener was added first, so
    // this one speaks after it.
    window.addEventListener('hashchange', () => app.notify(
      `You are no longer a member of ${group.title}, so it was closed.`, 'info'), { once: true });
    location.hash = '#/';
  }
  /** An error from this group's API: a 404 means the group is no longer the caller's to read. */
  function failed(err) {
    if (err.status === 404) lost();
    else if (err.status !== 401) app.notify(err.message);
  }

  let refreshing = null;
  /** Members came, went or changed role: the header asks the API again (once for a burst). */
  function membersChanged(messages) {
    const me = app.session.user;
    if (messages.some((m) => LEAVING.has(m.system?.event) && m.system.user_id === me)) return lost();
    if (!messages.some((m) => MEMBERSHIP.has(m.system?.event)) || refreshing) return null;
    refreshing = app.api.conversation(cid)
      .then((g) => { if (!gone) paintHead(g); })
      .catch(failed)
      .finally(() => { refreshing = null; });
    return refreshing;
  }

  render(view, h('div', { class: 'group' },
    h('div', { class: 'group-head' },
      h('a', { class: 'back', href: '#/', 'aria-label': 'Back to my groups' }, '‹'),
      h('div', { class: 'group-heading' },
        h('h1', { tabindex: -1 }, group.title),
        facts),
      actions),
    h('nav', { class: 'tabs', 'aria-label': 'Group sections' },
      tabLink('messages', 'Messages', base), tabLink('files', 'Files', `${base}/files`),
      tabLink('members', 'Members', `${base}/members`)),
    panel));

  const hooks = { failed, membersChanged };
  if (tab === 'files') {
    await filesTab(panel, app, cid, onCleanup, hooks);
  } else if (tab === 'members') {
    await membersTab(panel, app, cid, group, onCleanup);
  } else {
    await messagesTab(panel, app, cid, onCleanup, hooks);
  }
  // What was focused (the group's link, a tab) was replaced by this screen; focus left on
  // <body> would send the next Tab back to the top of the page.
  if (!document.activeElement || document.activeElement === document.body) {
    (fromTab ? view.querySelector('.tab[aria-current="page"]') : view.querySelector('.group-heading h1'))
      ?.focus({ preventScroll: true });
  }
  return () => cleanups.forEach((f) => f());
}

/** System events that change who is in the group or with which role. */
const MEMBERSHIP = new Set(['member_added', 'member_joined', 'member_removed', 'member_left', 'role_changed']);
const LEAVING = new Set(['member_removed', 'member_left']);

function article(word) {
  return /^[aeiou]/.test(word) ? 'an' : 'a';
}

/** An invite link for owners and admins: made on request, shown to copy and share. */
function inviteForm(app, cid) {
  const link = h('input', { id: 'invite-link', readonly: true, class: 'invite-link', hidden: true });
  const copy = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Copy link');
  const status = h('span', { class: 'small', role: 'status' });
  copy.addEventListener('click', async () => {
    link.select();
    try {
      await navigator.clipboard.writeText(link.value);
      render(status, 'Link copied');
    } catch {
      render(status, 'Select the link and copy it');
    }
  });
  return h('details', { class: 'invite' },
    h('summary', {}, 'Invite'),
    h('form', {
      async onsubmit(e) {
        e.preventDefault();
        render(status);
        try {
          const invite = await app.api.createInvite(cid);
          link.value = inviteUrl(invite);
          link.hidden = copy.hidden = false;
          render(status, `Anyone signed in with this link can join until ${new Date(invite.expires_at).toLocaleDateString()}.`);
          link.focus();
          link.select();
        } catch (err) {
          render(status, h('span', { class: 'form-error' }, err.message));
        }
      },
    },
    h('button', { type: 'submit', class: 'primary' }, 'Create invite link'),
    h('label', { for: 'invite-link', class: 'sr-only' }, 'Invite link'),
    link, copy, status));
}

/** The API's link when the deployment names the client's address, else this page's. */
export function inviteUrl(invite) {
  return invite.url || `${location.origin}${location.pathname}#/invite/${encodeURIComponent(invite.code)}`;
}

function addMemberForm(app, cid) {
  const input = h('input', { id: 'add-member', name: 'user_id', required: true, placeholder: 'user id', autocomplete: 'off' });
  const status = h('span', { class: 'small', role: 'status' });
  return h('details', { class: 'add-member' },
    h('summary', {}, 'Add member'),
    h('form', {
      async onsubmit(e) {
        e.preventDefault();
        render(status);
        try {
          const m = await app.api.addMember(cid, input.value.trim());
          // Now that they share a group, their profile is visible: say so when nobody has ever
          // signed in with that id (a typo adds a stranger-to-be, not a colleague).
          app.people.forget(m.user_id);
          await app.people.lookup([m.user_id]);
          const who = app.people.get(m.user_id);
          render(status, who && who.signed_in
            ? [app.people.person(m.user_id), ' is a member']
            : `${m.user_id} was added, but nobody has signed in with that id yet. Check it, or send an invite link instead.`);
          input.value = '';
        } catch (err) {
          render(status, h('span', { class: 'form-error' }, err.message));
        }
      },
    },
    h('label', { for: 'add-member', class: 'sr-only' }, 'User id to add'),
    input,
    h('button', { type: 'submit', class: 'primary' }, 'Add'),
    status));
}

async function messagesTab(panel, app, cid, onCleanup, hooks) {
  const pageSize = app.config.page_size || 30;
  const history = h('ol', { class: 'history', 'aria-label': 'Messages, newest first' });
  const sentinel = h('div', { class: 'sentinel', 'aria-hidden': 'true' });
  const olderButton = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Load older messages');
  const beginning = h('p', { class: 'muted small center', hidden: true }, 'This is the beginning of the group.');
  const live = h('p', { class: 'sr-only', role: 'status', 'aria-live': 'polite' });
  const uploads = h('ul', { class: 'uploads', 'aria-label': 'Uploads' });
  const cards = new Map(); // file id → file card
  const recallable = new Map(); // Recall/Delete button → its message
  const shown = new Set(); // seqs on screen
  let older = null;
  let loadingOlder = false;

  /** Puts messages on screen in seq order; one batch file-info call for their files. */
  async function show(messages) {
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
    const items = fresh.map((m) => {
      shown.add(m.seq);
      return messageItem(m);
    });
    // Newest first, by seq: a message sent here can reach the screen before push or a
    // catch-up brings an earlier one from someone else.
    for (const item of items) place(item);
    const ids = fresh.filter((m) => m.kind === 'file' && m.file).map((m) => m.file.file_id);
    if (ids.length) await fillFileInfo(ids);
    return fresh.length;
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
    if (old) old.replaceWith(messageItem(m));
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
      replace(done.message);
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

  function place(item) {
    const seq = Number(item.dataset.seq);
    const after = [...history.children].find((li) => Number(li.dataset.seq) < seq);
    history.insertBefore(item, after || null);
  }

  function messageItem(m) {
    const mine = m.sender === app.session.user;
    const dataset = { seq: m.seq, sender: m.sender, sentAt: m.sent_at };
    if (m.kind === 'system') {
      return h('li', { class: 'msg system', dataset },
        h('span', {}, systemText(app, m)), ' · ', timeEl(m.sent_at));
    }
    let body;
    if (m.kind === 'deleted') {
      const by = m.deleted && m.deleted.by;
      body = h('p', { class: 'text deleted muted' },
        by && by !== m.sender ? ['Message deleted by ', app.people.person(by)] : 'Message recalled');
    } else if (m.kind === 'file' && m.file) {
      const card = fileCard(app, cid, m.file);
      cards.set(m.file.file_id, card);
      body = card.el;
    } else {
      body = h('p', { class: 'text' }, m.text || '');
    }
    const action = deletable(m)
      ? h('button', {
        type: 'button',
        class: 'link delete-message',
        'aria-label': m.sender === app.session.user ? 'Recall this message' : `Delete ${app.people.label(m.sender)}’s message`,
        onclick: (e) => remove(m, e.currentTarget),
      }, m.sender === app.session.user ? 'Recall' : 'Delete')
      : null;
    if (action) recallable.set(action, m);
    return h('li', { class: `msg${mine ? ' mine' : ''}${m.kind === 'deleted' ? ' tombstone' : ''}`, dataset },
      app.people.avatar(m.sender),
      h('div', { class: 'msg-body' },
        h('p', { class: 'msg-head' }, h('strong', {}, app.people.person(m.sender)), ' ', timeEl(m.sent_at), action ? ' ' : null, action),
        body));
  }

  async function loadOlder() {
    if (loadingOlder || !older) return;
    loadingOlder = true;
    try {
      const page = await app.api.messages(cid, { before: older, limit: pageSize });
      older = page.older;
      await show(page.messages);
    } catch (e) {
      hooks.failed(e);
    } finally {
      loadingOlder = false;
      olderButton.hidden = !older;
      beginning.hidden = !!older;
    }
    // The observer reports changes only: reaching the end while this page (or its file info)
    // was loading was reported and ignored, so ask the geometry whether the end is still near.
    if (older && sentinel.isConnected && nearEnd()) loadOlder();
  }

  function nearEnd() {
    return sentinel.getBoundingClientRect().top < window.innerHeight + SCROLL_MARGIN_PX;
  }

  render(panel, composer(app, cid, uploads, (m) => show([m]), hooks), uploads, live, history, sentinel, olderButton, beginning);
  const first = await app.api.messages(cid, { limit: pageSize });
  older = first.older;
  await show(first.messages);
  olderButton.hidden = !older;
  beginning.hidden = !!older;
  olderButton.addEventListener('click', loadOlder);

  // Infinite scroll: reaching the end of the list fetches the next older page.
  const observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) loadOlder();
  }, { rootMargin: `${SCROLL_MARGIN_PX}px` });
  observer.observe(sentinel);
  // New messages: pushed, with gaps and reconnects filled from history (live.js).
  const newest = Math.max(0, ...first.messages.map((m) => m.seq));
  const unfollow = follow(app, cid, { seq: newest, newer: first.newer }, async (messages) => {
    hooks.membersChanged(messages);
    const count = await show(messages);
    if (count) render(live, `${count} new message${count > 1 ? 's' : ''}`);
  }, hooks.failed);
  // Once a minute: relative times grow older, and Recall goes once its window has passed.
  const clock = setInterval(() => {
    refreshTimes(history);
    for (const [button, m] of recallable) {
      if (!button.isConnected) recallable.delete(button);
      else if (!deletable(m)) {
        button.remove();
        recallable.delete(button);
      }
    }
  }, CLOCK_MS);
  onCleanup(() => {
    clearInterval(clock);
    observer.disconnect();
    unfollow();
  });
}

function timeEl(iso) {
  return h('time', { datetime: iso, title: when(iso), class: 'muted small', dataset: { relative: '' } }, fromNow(iso));
}

/** A system message as a sentence, with people by name. */
function systemText(app, m) {
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
  const picker = h('input', { id: 'attach', type: 'file', class: 'file-input', multiple: true });
  picker.addEventListener('change', () => {
    for (const file of picker.files) uploadFile(app, cid, file, uploads, added);
    picker.value = '';
  });
  return h('form', {
    class: 'composer',
    async onsubmit(e) {
      e.preventDefault();
      const value = text.value.trim();
      if (!value) return;
      try {
        added(await app.api.sendText(cid, value));
        text.value = '';
        sessionStorage.removeItem(draftKey);
      } catch (err) {
        hooks.failed(err);
      }
    },
  },
  h('label', { for: 'compose', class: 'sr-only' }, 'Message'),
  text,
  h('label', { for: 'attach', class: 'button secondary attach', title: 'Attach files' }, 'Attach file'),
  picker,
  h('button', { type: 'submit', class: 'primary' }, 'Send'));
}

/**
 * One upload. Files up to the multipart threshold: hash in the browser (declared to S3, which
 * refuses other bytes), ask for a presigned POST form, post the bytes with progress, complete.
 * Larger files go in parts (uploadParts), which resume: what storage already holds is never
 * sent again. "Retry" reuses the client_msg_id, so the API hands back the same file (and the
 * same multipart upload) rather than a second one; it is also kept per file in localStorage, so
 * picking the same file again after a reload or crash resumes too.
 */
function uploadFile(app, cid, file, uploads, added) {
  const resumeKey = `groupshare.upload:${cid}:${file.name}:${file.size}:${file.lastModified}`;
  const multipart = file.size > app.limits.multipart_threshold_bytes;
  let clientMsgId = (multipart && localStorage.getItem(resumeKey)) || newId();
  if (multipart) localStorage.setItem(resumeKey, clientMsgId);
  let fileId = null; // once the API has handed one out: what "Cancel" aborts
  let cancelled = false;
  const bar = h('progress', { max: 1, value: 0, 'aria-label': `Upload progress of ${file.name}` });
  const status = h('span', { class: 'small muted' });
  const actions = h('span', {});
  const row = h('li', { class: 'upload' },
    h('span', { class: 'upload-name' }, file.name, h('span', { class: 'muted small' }, ` · ${humanSize(file.size)}`)),
    bar, status, actions);
  uploads.append(row);
  const progress = (p) => { bar.value = p; render(status, `${Math.round(p * 100)}%`); };

  async function cancel() {
    cancelled = true;
    localStorage.removeItem(resumeKey);
    row.remove();
    // Storage drops the parts it holds; the API marks the file deleted.
    if (fileId && multipart) await app.api.abortUpload(cid, fileId).catch((e) => app.notify(e.message));
  }

  async function run() {
    render(actions, multipart
      ? h('button', { type: 'button', class: 'link cancel-upload', onclick: cancel }, 'Cancel')
      : null);
    row.classList.remove('failed');
    try {
      if (file.size > app.limits.max_upload_bytes) {
        throw new Error(`${file.name} is larger than the ${humanSize(app.limits.max_upload_bytes)} limit.`);
      }
      const meta = {
        client_msg_id: clientMsgId,
        name: file.name,
        size: file.size,
        content_type: file.type || 'application/octet-stream',
      };
      if (multipart) {
        const restart = () => {
          // Held parts are not this file's bytes (another file under the same name, size and
          // time): start a new upload rather than complete a mix.
          clientMsgId = newId();
          localStorage.setItem(resumeKey, clientMsgId);
          return { ...meta, client_msg_id: clientMsgId };
        };
        fileId = await uploadParts(app, cid, file, meta, status, progress, {
          started: (id) => { fileId = id; },
          restart,
          cancelled: () => cancelled,
        });
      } else {
        render(status, 'Checking…');
        const ticket = await app.api.startUpload(cid, { ...meta, sha256: await sha256Hex(file) });
        render(status, 'Uploading…');
        await postToS3(ticket.upload, file, progress);
        fileId = ticket.file_id;
      }
      render(status, 'Finishing…');
      const message = await app.api.completeUpload(cid, fileId);
      localStorage.removeItem(resumeKey);
      row.remove();
      await added(message);
    } catch (e) {
      if (cancelled) return;
      row.classList.add('failed');
      render(status, h('span', { class: 'form-error' }, e.message));
      render(actions,
        h('button', { type: 'button', class: 'link', onclick: run }, 'Retry'),
        ' ',
        // Dismissing a multipart upload also aborts it: storage drops the parts it holds.
        h('button', { type: 'button', class: 'link', onclick: cancel }, 'Dismiss'));
    }
  }
  run();
}

/** Parts in flight at once, and parts hashed and signed per request for URLs. */
const PARALLEL_PARTS = 4;
const PARTS_PER_BATCH = 8;

/**
 * A multipart upload: start (or find again) the upload, ask storage which parts it already
 * holds, then hash, sign and PUT the missing ones, a few in parallel. Each URL binds its part's
 * SHA-256, so storage refuses bytes that changed on the way. Returns the file id.
 */
async function uploadParts(app, cid, file, meta, status, progress, hooks) {
  render(status, 'Starting…');
  let ticket = await app.api.startUpload(cid, meta);
  let fileId = ticket.file_id;
  hooks.started(fileId);
  let { part_size: partSize, part_count: count } = ticket.multipart;
  let state = await app.api.uploadState(cid, fileId);
  let slice = (n) => file.slice((n - 1) * partSize, Math.min(n * partSize, file.size));
  // A resumed upload: the parts storage holds must be this file's, byte for byte.
  if (state.multipart.parts.length) render(status, 'Checking what was sent before…');
  for (const held of state.multipart.parts) {
    if (held.sha256 && held.sha256 !== (await sha256Hex(slice(held.part_number)))) {
      await app.api.abortUpload(cid, fileId);
      ticket = await app.api.startUpload(cid, hooks.restart());
      fileId = ticket.file_id;
      hooks.started(fileId);
      ({ part_size: partSize, part_count: count } = ticket.multipart);
      slice = (n) => file.slice((n - 1) * partSize, Math.min(n * partSize, file.size));
      state = await app.api.uploadState(cid, fileId);
      break;
    }
  }
  const missing = state.multipart.missing;
  let done = file.size - missing.reduce((sum, n) => sum + slice(n).size, 0);
  progress(done / file.size);
  for (let i = 0; i < missing.length; i += PARTS_PER_BATCH) {
    const batch = missing.slice(i, i + PARTS_PER_BATCH);
    render(status, `Checking parts ${batch[0]}–${batch[batch.length - 1]} of ${count}…`);
    const parts = [];
    for (const n of batch) parts.push({ part_number: n, sha256: await sha256Hex(slice(n)) });
    const { parts: urls } = await app.api.partUrls(cid, fileId, parts);
    const queue = [...urls];
    const worker = async () => {
      for (let url = queue.shift(); url && !hooks.cancelled(); url = queue.shift()) {
        const blob = slice(url.part_number);
        await putPart(url, blob);
        done += blob.size;
        progress(done / file.size);
      }
    };
    await Promise.all(Array.from({ length: PARALLEL_PARTS }, worker));
    if (hooks.cancelled()) throw new Error('Cancelled');
  }
  return fileId;
}
