// The full-screen view of a group's pictures and media: an image's large preview, fit to the
// screen or at its own size to look closer (scrolling then); a video or audio file played from
// its presigned URL where the browser can play its type; a download; and previous/next through
// the pictures and media of the screen behind it (buttons and arrow keys), loading more of the
// history or file list when the end of what is loaded is reached.

import { h, render } from '../dom.js';

/** A file card's element → a function answering its current file info (files.js registers). */
const cardInfo = new WeakMap();

export function registerCard(el, currentInfo) {
  cardInfo.set(el, currentInfo);
}

function mediaKind(type = '') {
  if (type.startsWith('video/')) return 'video';
  if (type.startsWith('audio/')) return 'audio';
  return null;
}

/** Whether this browser plays a file of `type` (a video or audio type it knows). */
export function playable(type) {
  const kind = mediaKind(type);
  return !!kind && document.createElement(kind).canPlayType(type) !== '';
}

/** What the view shows of a file: `image` (its preview), `video`, `audio`, or null. */
export function viewKind(info) {
  if (info.status !== 'available') return null;
  if (info.preview?.status === 'ready') return 'image';
  return playable(info.content_type) ? mediaKind(info.content_type) : null;
}

/**
 * Saves a file under its exact name. The API checks membership and answers a short-lived
 * presigned URL; S3 answers that with `Content-Disposition: attachment; filename*=UTF-8''…`, so
 * the browser saves it without leaving the page.
 */
export async function saveFile(app, cid, info) {
  const link = await app.api.downloadLink(cid, info.file_id);
  const a = h('a', { href: link.url, rel: 'noopener', hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  app.notify(`Downloading ${info.name}`, 'info');
}

/**
 * Opens the view on `first`. `root` is the screen whose file cards make the sequence (in their
 * order on screen); `more.earlier`/`more.later` (`{can(), load()}`) load what lies before the
 * first or after the last card. Focus returns to the card of the file shown last.
 */
export function openViewer(app, cid, first, { root, more = {}, opener }) {
  // All files steps through files of several groups: each is asked for in its own.
  const groupOf = (info) => info.conversation_id || cid;
  let current = first;
  let kind = null;
  let zoomed = false;
  let showing = 0; // which show() is current: a late answer for a file stepped past is dropped

  const name = h('span', { class: 'viewer-name', id: 'viewer-name' });
  const position = h('span', { class: 'viewer-position' });
  const navButton = (label, delta) => h('button', {
    type: 'button', class: 'secondary', onclick: (e) => {
      if (e.currentTarget.getAttribute('aria-disabled') !== 'true') step(delta);
    },
  }, label);
  const previous = navButton('Previous', -1);
  const next = navButton('Next', 1);
  const zoom = h('button', {
    type: 'button', class: 'secondary', 'aria-pressed': 'false',
    onclick: () => setZoom(!zoomed),
  }, 'Actual size');
  const save = h('button', {
    type: 'button', class: 'secondary',
    async onclick() {
      try {
        await saveFile(app, groupOf(current), current);
      } catch (e) {
        app.notify(e.message);
      }
    },
  }, 'Download');
  const close = h('button', { type: 'button', class: 'secondary', onclick: () => dialog.close() }, 'Close');
  // Focusable: when the picture is larger than the screen, arrow keys scroll it.
  const stage = h('div', { class: 'viewer-stage', role: 'region', tabindex: 0, 'aria-label': 'Picture' });
  const dialog = h('dialog', { class: 'viewer', 'aria-labelledby': 'viewer-name' },
    h('div', { class: 'viewer-bar' },
      h('p', { class: 'viewer-title' }, name, position),
      h('div', { class: 'viewer-actions' }, previous, next, zoom, save, close)),
    stage);

  /** The viewable files of the screen behind, in their order there. */
  function sequence() {
    return [...root.querySelectorAll('.file-card')]
      .map((el) => cardInfo.get(el)?.())
      .filter((info) => info && viewKind(info));
  }

  function indexIn(list) {
    return list.findIndex((info) => info.file_id === current.file_id);
  }

  function paintNav() {
    const list = sequence();
    const i = indexIn(list);
    render(position, i >= 0 ? ` · ${i + 1} of ${list.length}${more.earlier?.can() || more.later?.can() ? '+' : ''}` : '');
    // aria-disabled, not disabled: a button disabled while focused would drop focus to <body>.
    previous.setAttribute('aria-disabled', String(i <= 0 && !more.earlier?.can()));
    next.setAttribute('aria-disabled', String((i < 0 || i >= list.length - 1) && !more.later?.can()));
  }

  async function step(delta) {
    let list = sequence();
    let i = indexIn(list);
    const edge = delta < 0 ? more.earlier : more.later;
    if ((i + delta < 0 || i + delta >= list.length) && edge?.can()) {
      await edge.load();
      list = sequence();
      i = indexIn(list);
    }
    const target = list[i + delta];
    if (i >= 0 && target) show(target);
  }

  function setZoom(on, at) {
    const img = stage.querySelector('img');
    if (kind !== 'image' || !img) return;
    // Where the click was, as a share of the picture: that point is centred once zoomed.
    const box = img.getBoundingClientRect();
    zoomed = on;
    stage.classList.toggle('zoomed', on);
    zoom.setAttribute('aria-pressed', String(on));
    if (on && at) {
      stage.scrollLeft = ((at.clientX - box.left) / box.width) * img.naturalWidth - stage.clientWidth / 2;
      stage.scrollTop = ((at.clientY - box.top) / box.height) * img.naturalHeight - stage.clientHeight / 2;
    }
  }

  async function show(info) {
    const mine = ++showing;
    current = info;
    kind = viewKind(info);
    zoomed = false;
    stage.classList.remove('zoomed');
    zoom.setAttribute('aria-pressed', 'false');
    zoom.hidden = kind !== 'image';
    render(name, info.name);
    save.setAttribute('aria-label', `Download ${info.name}`);
    stage.setAttribute('aria-label', kind === 'image' ? `Picture: ${info.name}` : info.name);
    paintNav();
    render(stage, h('p', { class: 'viewer-note' }, 'Loading…'));
    try {
      // Membership is checked again for every URL: a member removed meanwhile gets a 404.
      const link = kind === 'image'
        ? await app.api.previewLink(groupOf(info), info.file_id, 'large')
        : await app.api.downloadLink(groupOf(info), info.file_id);
      if (mine !== showing) return;
      render(stage, kind === 'image'
        ? h('img', { src: link.url, alt: info.name, onclick: (e) => setZoom(!zoomed, e) })
        // The download URL plays too: media elements ignore Content-Disposition, and storage
        // answers range requests, so the browser seeks without fetching the whole file.
        : h(kind, { src: link.url, controls: true, preload: 'metadata', 'aria-label': info.name }));
    } catch (e) {
      if (mine === showing) render(stage, h('p', { class: 'viewer-note', role: 'alert' }, e.message));
    }
  }

  dialog.addEventListener('keydown', (e) => {
    // A focused video or audio player keeps its own keys (seeking, volume).
    if (e.target instanceof HTMLMediaElement || e.altKey || e.ctrlKey || e.metaKey) return;
    if ((e.key === 'ArrowLeft' || e.key === 'ArrowRight') && !zoomed) {
      e.preventDefault();
      step(e.key === 'ArrowLeft' ? -1 : 1);
    } else if (e.key === '+' || e.key === '=') {
      setZoom(true);
      if (zoomed) stage.focus(); // arrow keys now scroll the picture
    } else if (e.key === '-') {
      setZoom(false);
    }
  });
  dialog.addEventListener('click', (e) => { if (e.target === dialog) dialog.close(); });
  dialog.addEventListener('close', () => {
    dialog.remove();
    // Back to the card of what was shown last (stepping may have left the one opened).
    const card = [...root.querySelectorAll('.file-card')].find((el) => el.dataset.fileId === current.file_id);
    const target = card?.querySelector('button.thumb') || (opener?.isConnected ? opener : null);
    target?.focus({ preventScroll: !card });
  });
  document.body.append(dialog);
  dialog.showModal();
  close.focus();
  show(first);
}
