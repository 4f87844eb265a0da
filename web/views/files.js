// A file's download entry, built from its file id and the file info the API returns for it:
// name, size, type, uploader, time, expiry and status; the download action is enabled only for
// an available file, and says why when it is not. Images show their preview (a 320 px JPEG,
// its URL in the same batch file info) and open the full-screen view (viewer.js) of the
// 1280 px one; video and audio the browser can play open it too, to play.
// The files tab follows pushed messages: a file message adds its entry, a deletion removes it.

import { h, render } from '../dom.js';
import { follow } from '../live.js';
import { expiry, fileType, fromNow, humanSize, isDeletion, STATUS_TEXT, UNAVAILABLE_REASON, when } from '../format.js';
import { openViewer, registerCard, saveFile, viewKind } from './viewer.js';

/**
 * A card for `summary` ({file_id, name, size, content_type}, as a file message carries it);
 * `update(info)` fills in the rest once the batch file info arrives. `level`: its name's
 * heading level; `gallery`: how the full-screen view loads more (viewer.js's `more`).
 */
export function fileCard(app, cid, summary, { level = 2, gallery = {} } = {}) {
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
    render(el,
      thumb(type),
      h('div', { class: 'file-main' },
        // Right under the group's h1 (files tab) or a day's h2 (history): headings in order.
        h(`h${level}`, { class: 'file-name', title: info.name }, info.name),
        // One flex item: the parts read as one line, a name among them.
        h('p', { class: 'file-meta' }, h('span', {}, meta.map((part, i) => [i ? ' · ' : '', part]))),
        status && h('p', { class: 'file-meta' },
          h('span', { class: `status ${status}` }, STATUS_TEXT[status] || status),
          status === 'available' || status === 'expired' ? h('span', { class: 'expiry' }, expiry(info)) : null),
        !available && status && h('p', { class: 'why', id: reasonId }, UNAVAILABLE_REASON[status] || ''),
        !status && h('p', { class: 'file-meta muted' }, 'Checking…')),
      h('div', { class: 'file-actions' }, button));
    if (info.uploaded_at) el.title = `Uploaded ${when(info.uploaded_at)}`;
    const focus = refocus ? 'download' : had;
    if (focus) (el.querySelector(`.${focus}`) || el.querySelector('button.download'))?.focus({ preventScroll: true });
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

/** The group's files tab: every completed file, newest first, with more on scroll. */
export async function filesTab(panel, app, cid, onCleanup, hooks) {
  const list = h('ul', { class: 'file-list', 'aria-label': 'Files, newest first' });
  const sentinel = h('div', { class: 'sentinel' });
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Load more files');
  const cards = new Map(); // file id → {card, item}
  const fileOfSeq = new Map(); // seq → file id, of the file messages seen while open
  let cursor = null;
  let loading = false;
  // Previous/next in the full-screen view reach into the next page of older files as well.
  const gallery = { later: { can: () => !!cursor, load: () => load() } };

  function add(f, where) {
    if (cards.has(f.file_id)) return null;
    const card = fileCard(app, cid, f, { gallery });
    const item = h('li', {}, card.el);
    cards.set(f.file_id, { card, item });
    list.querySelector('li.empty')?.remove();
    if (where === 'top') list.prepend(item);
    else list.append(item);
    return card;
  }

  function showEmpty() {
    if (!list.children.length) list.append(h('li', { class: 'empty' }, 'No files shared in this group yet.'));
  }

  async function load() {
    if (loading) return;
    loading = true;
    try {
      const page = await app.api.listFiles(cid, cursor, 30);
      for (const f of page.files) add(f, 'end')?.update(f);
      cursor = page.cursor;
      more.hidden = !cursor;
      showEmpty();
    } finally {
      loading = false;
    }
  }

  /** Asks the API about the files shown (batches of its limit) and drops those no longer listed. */
  async function recheck(ids) {
    const max = app.limits.max_ids_per_batch || 100;
    for (let i = 0; i < ids.length; i += max) {
      const batch = await app.api.filesByIds(cid, ids.slice(i, i + max));
      const gone = [...batch.missing, ...batch.files.filter((f) => f.status === 'deleted').map((f) => f.file_id)];
      for (const id of gone) {
        cards.get(id)?.item.remove();
        cards.delete(id);
      }
    }
    showEmpty();
  }

  /** Pushed (or caught-up) messages: new file messages on top, deletions taken off. */
  async function apply(messages) {
    const added = [];
    const deleted = new Set(); // seqs
    for (const m of messages) {
      if (m.kind === 'deleted') {
        deleted.add(m.seq);
        continue;
      }
      if (m.kind === 'system' && isDeletion(m.system?.event) && m.system.seq) deleted.add(m.system.seq);
      fileOfSeq.set(m.seq, m.kind === 'file' && m.file ? m.file.file_id : null);
      if (m.kind === 'file' && m.file && add(m.file, 'top')) added.push(m.file.file_id);
    }
    if (added.length) {
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
      if (id) {
        cards.get(id)?.item.remove();
        cards.delete(id);
      }
    }
    if (unknown) await recheck([...cards.keys()]);
    else showEmpty();
  }

  // Only with a cursor: without one the API answers the first page, which is already listed.
  more.addEventListener('click', () => cursor && load().catch((e) => app.notify(e.message)));
  render(panel, list, more, sentinel);
  // The newest message now, where following starts (a file listed as well is not added twice).
  const [head] = await Promise.all([app.api.messages(cid, { limit: 1 }), load()]);
  const newest = Math.max(0, ...head.messages.map((m) => m.seq));
  const unfollow = follow(app, cid, { seq: newest, newer: head.newer }, (messages) => {
    hooks.membersChanged(messages);
    return apply(messages);
  }, hooks.failed);
  const observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting) && cursor) load().catch((e) => app.notify(e.message));
  });
  observer.observe(sentinel);
  onCleanup(() => {
    observer.disconnect();
    unfollow();
  });
}
