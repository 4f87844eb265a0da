// A file's download entry, built from its file id and the file info the API returns for it:
// name, size, type, uploader, time, expiry and status; the download action is enabled only for
// an available file, and says why when it is not. Images show their preview (a 320 px JPEG,
// its URL in the same batch file info) and open the full-screen view (viewer.js) of the
// 1280 px one; video and audio the browser can play open it too, to play.
// A Forward action shares a copy in another of the reader's groups (forward.js); a forwarded
// copy says so, naming the group it came from when the reader is in that group too.
// The files tab searches (search.js) and follows pushed messages: a file message adds its entry
// (if it matches the search), a deletion removes it.

import { h, render } from '../dom.js';
import { follow } from '../live.js';
import { expiry, fileType, fromNow, humanSize, isDeletion, STATUS_TEXT, UNAVAILABLE_REASON, when } from '../format.js';
import { openForward } from './forward.js';
import { fileResults, searchControls } from './search.js';
import { openViewer, registerCard, saveFile, viewKind } from './viewer.js';

/**
 * A card for `summary` ({file_id, name, size, content_type}, as a file message carries it);
 * `update(info)` fills in the rest once the batch file info arrives. `level`: its name's
 * heading level; `gallery`: how the full-screen view loads more (viewer.js's `more`); `group`:
 * name the file's group (All files), from `conversation_title`, linked to the group.
 */
export function fileCard(app, cid, summary, { level = 2, gallery = {}, group = false } = {}) {
  const el = h('article', { class: 'file-card', dataset: { fileId: summary.file_id } });
  const reasonId = `why-${summary.file_id}`;
  let info = { ...summary, status: null };
  let previewChecks = 0;
  let previewTimer = null;
  registerCard(el, () => info);

  function view(e) {
    openViewer(app, cid, info, { root: el.closest('.tab-panel') || document.body, more: gallery, opener: e.currentTarget });
  }

  /** The thumbnail or a play button (each opening the full-screen view), or the type icon. */
  function thumb(type) {
    const p = info.preview;
    const kind = viewKind(info);
    if (kind === 'image' && p.url) {
      const small = (p.sizes || []).find((s) => s.size === 'small') || {};
      return h('button', {
        type: 'button', class: 'thumb',
        'aria-label': `View ${info.name} full screen`,
        onclick: view,
      }, h('img', { src: p.url, alt: `Preview of ${info.name}`, width: small.width, height: small.height, loading: 'lazy' }));
    }
    if (kind === 'video' || kind === 'audio') {
      return h('button', { type: 'button', class: `thumb play ${type.kind}`, 'aria-label': `Play ${info.name}`, onclick: view },
        h('span', { 'aria-hidden': 'true' }, '▶'));
    }
    return h('div', { class: `file-icon ${type.kind}`, 'aria-hidden': 'true' }, type.label);
  }

  /** A preview still being made is asked for again, a few times, a little later. */
  function watchPreview() {
    clearTimeout(previewTimer);
    if (info.status !== 'available' || info.preview?.status !== 'pending' || previewChecks >= 10) return;
    previewChecks += 1;
    previewTimer = setTimeout(async () => {
      if (!el.isConnected) return;
      const fresh = await app.api.filesByIds(cid, [info.file_id]).catch(() => null);
      if (fresh && fresh.files[0]) {
        info = { ...info, ...fresh.files[0] };
        paint();
      }
      watchPreview();
    }, 1500);
  }

  /** Draws the card again; the control that had focus (or `refocus`, the download) keeps it. */
  function paint(refocus = false) {
    const had = el.contains(document.activeElement) ? document.activeElement.classList[0] : null;
    const type = fileType(info.name, info.content_type);
    const status = info.status;
    const available = status === 'available';
    const meta = [humanSize(info.size), type.label];
    if (info.uploader) meta.push(['from ', app.people.person(info.uploader)]);
    if (info.uploaded_at) meta.push(h('time', { datetime: info.uploaded_at, dataset: { relative: '' } }, fromNow(info.uploaded_at)));
    const button = h('button', {
      type: 'button', class: 'download', disabled: !available,
      'aria-describedby': available ? undefined : reasonId,
      // The accessible name starts with what the button shows (axe: label-content-name-mismatch).
      'aria-label': `${available ? 'Download' : 'Unavailable'} ${info.name}`,
      onclick: () => download(button),
    }, available ? 'Download' : 'Unavailable');
    const forward = available && h('button', {
      type: 'button', class: 'forward secondary',
      'aria-label': `Forward ${info.name}`,
      onclick: (e) => openForward(app, cid, info, e.currentTarget),
    }, 'Forward');
    render(el,
      thumb(type),
      h('div', { class: 'file-main' },
        // Right under the group's h1 (files tab) or a day's h2 (history): headings in order.
        h(`h${level}`, { class: 'file-name', title: info.name }, info.name),
        // One flex item: the parts read as one line, a name among them.
        h('p', { class: 'file-meta' }, h('span', {}, meta.map((part, i) => [i ? ' · ' : '', part]))),
        group && info.conversation_id && h('p', { class: 'file-meta file-group' },
          h('span', {}, 'in ', h('a', { href: `#/g/${encodeURIComponent(info.conversation_id)}` },
            info.conversation_title || app.readState.get(info.conversation_id)?.title || 'a group'))),
        info.forwarded && forwardedFrom(),
        status && h('p', { class: 'file-meta' },
          h('span', { class: `status ${status}` }, STATUS_TEXT[status] || status),
          status === 'available' || status === 'expired' ? h('span', { class: 'expiry' }, expiry(info)) : null),
        !available && status && h('p', { class: 'why', id: reasonId }, UNAVAILABLE_REASON[status] || ''),
        !status && h('p', { class: 'file-meta muted' }, 'Checking…')),
      h('div', { class: 'file-actions' }, forward, button));
    if (info.uploaded_at) el.title = `Uploaded ${when(info.uploaded_at)}`;
    const focus = refocus ? 'download' : had;
    if (focus) (el.querySelector(`.${focus}`) || el.querySelector('button.download'))?.focus({ preventScroll: true });
  }

  /** "Forwarded", and from which group when the server says (only to a member of it): its
   *  name from the reader's own group list, once that has loaded. */
  function forwardedFrom() {
    const from = info.forwarded.from_conversation_id;
    const source = from && app.readState.get(from);
    if (from && !source && !app.readState.loaded) {
      app.readState.start().then(() => { if (el.isConnected) paint(); }).catch(() => {});
    }
    return h('p', { class: 'file-meta forwarded' },
      h('span', {}, h('span', { 'aria-hidden': 'true' }, '↪ '), 'Forwarded',
        source ? [' from ', h('a', { href: `#/g/${encodeURIComponent(from)}` }, source.title)] : null));
  }

  async function download(button) {
    // Disabling the focused button drops focus to <body>: it returns to the new one below.
    const refocus = document.activeElement === button;
    button.disabled = true;
    button.textContent = 'Preparing…';
    try {
      await saveFile(app, cid, info);
    } catch (e) {
      app.notify(e.message);
      // Gone since the list was drawn: expired, or deleted with its message. Ask which.
      if (e.code === 'file_gone') {
        const fresh = await app.api.filesByIds(cid, [info.file_id]).catch(() => null);
        info = { ...info, ...(fresh && fresh.files[0]) };
        if (info.status === 'available') info.status = 'expired';
      }
    } finally {
      paint(refocus);
    }
  }

  paint();
  return {
    el,
    update(next) {
      info = { ...info, ...next };
      paint();
      watchPreview();
    },
  };
}

/** The group's files tab: every completed file, newest first, with more on scroll; a search box
 *  and type chips narrow it (search.js). */
export async function filesTab(panel, app, cid, onCleanup, hooks) {
  const fileOfSeq = new Map(); // seq → file id, of the file messages seen while open
  // Previous/next in the full-screen view reach into the next page of older files as well.
  const gallery = { later: { can: () => !!results.cursor, load: () => results.load() } };
  const results = fileResults(app, {
    label: 'Files, newest first',
    fetchPage: (filters, cursor, signal) => app.api.searchFiles(cid, filters, cursor, 30, signal),
    card: (f) => fileCard(app, cid, f, { gallery }),
    emptyText: (filters) => (Object.keys(filters).length ? 'No files match.' : 'No files shared in this group yet.'),
  });
  const search = searchControls({
    id: 'files-search',
    label: 'Search this group’s files by name',
    onChange: (filters) => results.refilter(filters).catch(hooks.failed),
  });
  const { cards } = results;

  /** Asks the API about the files shown (batches of its limit) and drops those no longer listed. */
  async function recheck(ids) {
    const max = app.limits.max_ids_per_batch || 100;
    for (let i = 0; i < ids.length; i += max) {
      const batch = await app.api.filesByIds(cid, ids.slice(i, i + max));
      const gone = [...batch.missing, ...batch.files.filter((f) => f.status === 'deleted').map((f) => f.file_id)];
      for (const id of gone) results.remove(id);
    }
    results.showEmpty();
  }

  /** Pushed (or caught-up) messages: new file messages on top, deletions taken off. */
  async function apply(messages) {
    const added = [];
    const deleted = new Set(); // seqs
    const searching = Object.keys(results.filters).length > 0;
    for (const m of messages) {
      if (m.kind === 'deleted') {
        deleted.add(m.seq);
        continue;
      }
      if (m.kind === 'system' && isDeletion(m.system?.event) && m.system.seq) deleted.add(m.system.seq);
      fileOfSeq.set(m.seq, m.kind === 'file' && m.file ? m.file.file_id : null);
      if (m.kind !== 'file' || !m.file || cards.has(m.file.file_id)) continue;
      // While searching, a new file joins only if the search finds it (below).
      if (searching) added.push(m.file.file_id);
      else if (results.add({ forwarded: m.forwarded, ...m.file }, 'top')) added.push(m.file.file_id);
    }
    if (added.length && searching) {
      // Which of them the search finds, as the server matches: its first page (they are the
      // newest), read again; those not on it do not match.
      const filters = results.filters;
      const page = await app.api.searchFiles(cid, filters, null, 30);
      const pushed = new Set(added);
      if (filters === results.filters) {
        for (const f of [...page.files].reverse()) if (pushed.has(f.file_id)) results.add(f, 'top')?.update(f);
      }
    } else if (added.length) {
      // The entries' status, expiry and preview: one batch request, as the history does.
      const batch = await app.api.filesByIds(cid, added);
      for (const info of batch.files) cards.get(info.file_id)?.card.update(info);
    }
    // A tombstone carries no file id. A message seen here is known (a file's entry goes, a
    // text's deletion changes nothing); for an older one, the files shown are asked about.
    let unknown = false;
    for (const seq of deleted) {
      if (!fileOfSeq.has(seq)) {
        unknown = true;
        continue;
      }
      const id = fileOfSeq.get(seq);
      if (id) results.remove(id);
    }
    if (unknown) await recheck([...cards.keys()]);
    else results.showEmpty();
  }

  render(panel, search.el, ...results.els);
  // The newest message now, where following starts (a file listed as well is not added twice).
  const [head] = await Promise.all([app.api.messages(cid, { limit: 1 }), results.load()]);
  const newest = Math.max(0, ...head.messages.map((m) => m.seq));
  const unfollow = follow(app, cid, { seq: newest, newer: head.newer }, (messages) => {
    hooks.membersChanged(messages);
    return apply(messages);
  }, hooks.failed);
  onCleanup(() => {
    search.stop();
    results.stop();
    unfollow();
  });
}
