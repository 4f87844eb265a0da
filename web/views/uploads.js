// Uploads into a group: files picked, dropped or pasted, each a row with its progress, a few at
// a time (the rest wait their turn). Files up to the multipart threshold are hashed in the
// browser (declared to S3, which refuses other bytes), posted with a presigned POST form and
// completed; larger ones go in parts that resume (uploadParts). Any upload can be cancelled:
// what is in flight is aborted and the API drops the pending file with whatever bytes storage
// holds (`DELETE …/uploads/{id}`). A failed one can be retried: the same client_msg_id gets the
// same file back from the API rather than a second one.

import { newId, postToS3, putPart, sha256Hex } from '../api.js';
import { h, render } from '../dom.js';
import { humanSize } from '../format.js';

/** Uploads sending at once; more would only share the same connection's bandwidth. */
const PARALLEL_UPLOADS = 3;
/** Where a multipart upload's client_msg_id is kept, per file (resumed after a reload). */
const RESUME_PREFIX = 'groupshare.upload:';
/** How to stop each upload of this page that has not finished or been dismissed. */
const unfinished = new Set();

/**
 * Sign-out: every upload stops where it is and queued ones never start. Nothing more is asked
 * of the API: without a token it would answer 401 (signing out again), and a page signed in
 * again would carry the next person's token (their file shared as the next person's). A
 * pending file left behind is swept as abandoned.
 */
export function stopUploads() {
  for (const stop of [...unfinished]) stop();
}

/** A chosen sign-out: the device keeps no trace of what was being shared (group, file name). */
export function forgetUploads() {
  for (const key of Object.keys(localStorage)) {
    if (key.startsWith(RESUME_PREFIX)) localStorage.removeItem(key);
  }
}

/** The uploads list of a group. `added(message)` puts a completed file's message on screen. */
export function createUploads(app, cid, added) {
  const list = h('ul', { class: 'uploads', 'aria-label': 'Uploads' });
  const waiting = [];
  let sending = 0;

  function pump() {
    while (sending < PARALLEL_UPLOADS && waiting.length) {
      sending += 1;
      waiting.shift()().finally(() => {
        sending -= 1;
        pump();
      });
    }
  }

  function queue(task) {
    waiting.push(task);
    pump();
  }

  return {
    list,
    add(files) {
      for (const file of files) uploadFile(app, cid, file, { list, queue, added });
    },
  };
}

/**
 * Files dragged onto the page are shared in the group when dropped; files pasted (an image
 * from the clipboard) too, unless text comes with them into a text field. Returns `stop()`.
 */
export function acceptFiles(app, add, overlay) {
  const carriesFiles = (e) => !!e.dataTransfer && [...e.dataTransfer.types].includes('Files');
  const onDragOver = (e) => {
    if (!carriesFiles(e)) return;
    e.preventDefault(); // a drop here, not the browser opening the file in place of the page
    e.dataTransfer.dropEffect = 'copy';
    overlay.hidden = false;
  };
  const onDragLeave = (e) => {
    if (!e.relatedTarget) overlay.hidden = true; // left the window
  };
  const onDrop = (e) => {
    overlay.hidden = true;
    if (!carriesFiles(e)) return;
    e.preventDefault();
    const files = [];
    let folders = 0;
    for (const item of e.dataTransfer.items) {
      if (item.kind !== 'file') continue;
      if (item.webkitGetAsEntry?.()?.isDirectory) folders += 1;
      else files.push(item.getAsFile());
    }
    if (folders) app.notify('Folders cannot be shared as they are; drop the files in them instead.', 'info');
    add(files.filter(Boolean));
  };
  const onPaste = (e) => {
    const data = e.clipboardData;
    if (!data || !data.files.length) return;
    // Text copied from a document can carry a picture of itself: into a text field it pastes as text.
    const field = e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement;
    if (field && data.types.includes('text/plain')) return;
    e.preventDefault();
    add([...data.files].map(named));
  };
  document.addEventListener('dragenter', onDragOver);
  document.addEventListener('dragover', onDragOver);
  document.addEventListener('dragleave', onDragLeave);
  document.addEventListener('drop', onDrop);
  document.addEventListener('paste', onPaste);
  return () => {
    document.removeEventListener('dragenter', onDragOver);
    document.removeEventListener('dragover', onDragOver);
    document.removeEventListener('dragleave', onDragLeave);
    document.removeEventListener('drop', onDrop);
    document.removeEventListener('paste', onPaste);
  };
}

/** A pasted image is called "image.png" by every browser: it gets the time it was pasted. */
function named(file) {
  if (file.name && !/^image\.\w+$/i.test(file.name)) return file;
  const ext = (file.type.split('/')[1] || 'png').replace('jpeg', 'jpg').replace(/\W.*/, '');
  const now = new Date();
  const pad = (n) => String(n).padStart(2, '0');
  const stamp = `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())} ${pad(now.getHours())}.${pad(now.getMinutes())}.${pad(now.getSeconds())}`;
  return new File([file], `Pasted image ${stamp}.${ext}`, { type: file.type, lastModified: file.lastModified });
}

/**
 * One upload's row and life: waiting, sending, failed (Retry, Dismiss) or gone. "Retry" reuses
 * the client_msg_id; for a multipart upload it is also kept per file in localStorage, so
 * picking the same file again after a reload or crash resumes too.
 */
function uploadFile(app, cid, file, { list, queue, added }) {
  const resumeKey = `${RESUME_PREFIX}${cid}:${file.name}:${file.size}:${file.lastModified}`;
  const multipart = file.size > app.limits.multipart_threshold_bytes;
  let clientMsgId = (multipart && localStorage.getItem(resumeKey)) || newId();
  if (multipart) localStorage.setItem(resumeKey, clientMsgId);
  let fileId = null; // once the API has handed one out: what cancelling drops
  let cancelled = false;
  let dropped = false;
  let stopped = false; // at sign-out
  let inFlight = null; // AbortController of the current attempt's requests
  const bar = h('progress', { max: 1, value: 0, 'aria-label': `Upload progress of ${file.name}` });
  const status = h('span', { class: 'small muted' });
  const actions = h('span', { class: 'upload-actions' });
  const row = h('li', { class: 'upload', dataset: { name: file.name } },
    h('span', { class: 'upload-name' }, file.name, h('span', { class: 'muted small' }, ` · ${humanSize(file.size)}`)),
    bar, status, actions);
  list.append(row);
  const progress = (p) => {
    bar.value = p;
    render(status, `${Math.round(p * 100)}%`);
  };
  // Named after the file: several uploads each have a Cancel.
  const action = (label, onclick) =>
    h('button', { type: 'button', class: `link ${label.toLowerCase()}-upload`, 'aria-label': `${label} upload of ${file.name}`, onclick }, label);

  /** The API drops the pending file (multipart parts and any posted bytes go with it). */
  async function drop() {
    if (!fileId || dropped || stopped) return;
    dropped = true;
    try {
      await app.api.abortUpload(cid, fileId);
    } catch (e) {
      // Storage had every byte and completed it on its own (S3's event) just before.
      if (e.code === 'upload_completed') {
        app.notify(`${file.name} was shared before it could be cancelled; delete its message to take it back.`, 'info');
      } else {
        app.notify(e.message);
      }
    }
  }

  function stop() {
    stopped = cancelled = true;
    unfinished.delete(stop);
    inFlight?.abort();
    row.remove();
  }
  unfinished.add(stop);

  async function cancel() {
    if (cancelled) return;
    cancelled = true;
    unfinished.delete(stop);
    inFlight?.abort();
    localStorage.removeItem(resumeKey);
    // The button pressed goes with its row: the keyboard continues from the message box.
    const hadFocus = row.contains(document.activeElement);
    row.remove();
    if (hadFocus) document.getElementById('compose')?.focus();
    await drop();
  }

  function enqueue() {
    row.classList.remove('failed');
    render(status, 'Waiting…');
    render(actions, action('Cancel', cancel));
    queue(send);
  }

  async function send() {
    if (cancelled) return;
    inFlight = new AbortController();
    const { signal } = inFlight;
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
        await uploadParts(app, cid, file, meta, status, progress, {
          started: (id) => { fileId = id; },
          restart,
          signal,
        });
      } else {
        render(status, 'Checking…');
        const sha256 = await sha256Hex(file);
        signal.throwIfAborted();
        const ticket = await app.api.startUpload(cid, { ...meta, sha256 });
        fileId = ticket.file_id;
        signal.throwIfAborted();
        render(status, 'Uploading…');
        await postToS3(ticket.upload, file, progress, signal);
      }
      signal.throwIfAborted();
      render(status, 'Finishing…');
      const message = await app.api.completeUpload(cid, fileId);
      unfinished.delete(stop);
      localStorage.removeItem(resumeKey);
      row.remove();
      await added(message);
    } catch (e) {
      // A file id handed out after the click is dropped as well.
      if (cancelled) {
        await drop();
        return;
      }
      row.classList.add('failed');
      render(status, h('span', { class: 'form-error' }, e.message));
      // Dismissing also drops the pending file: storage lets go of what it holds.
      render(actions, action('Retry', enqueue), ' ', action('Dismiss', cancel));
    }
  }

  enqueue();
}

/** Parts in flight at once, and parts hashed and signed per request for URLs. */
const PARALLEL_PARTS = 4;
const PARTS_PER_BATCH = 8;

/**
 * A multipart upload: start (or find again) the upload, ask storage which parts it already
 * holds, then hash, sign and PUT the missing ones, a few in parallel. Each URL binds its part's
 * SHA-256, so storage refuses bytes that changed on the way. Stops when `hooks.signal` aborts.
 */
async function uploadParts(app, cid, file, meta, status, progress, hooks) {
  const { signal } = hooks;
  render(status, 'Starting…');
  let ticket = await app.api.startUpload(cid, meta);
  hooks.started(ticket.file_id);
  signal.throwIfAborted();
  let { part_size: partSize, part_count: count } = ticket.multipart;
  let state = await app.api.uploadState(cid, ticket.file_id);
  let slice = (n) => file.slice((n - 1) * partSize, Math.min(n * partSize, file.size));
  // A resumed upload: the parts storage holds must be this file's, byte for byte.
  if (state.multipart.parts.length) render(status, 'Checking what was sent before…');
  for (const held of state.multipart.parts) {
    if (held.sha256 && held.sha256 !== (await sha256Hex(slice(held.part_number)))) {
      signal.throwIfAborted();
      await app.api.abortUpload(cid, ticket.file_id);
      signal.throwIfAborted();
      ticket = await app.api.startUpload(cid, hooks.restart());
      hooks.started(ticket.file_id);
      ({ part_size: partSize, part_count: count } = ticket.multipart);
      slice = (n) => file.slice((n - 1) * partSize, Math.min(n * partSize, file.size));
      state = await app.api.uploadState(cid, ticket.file_id);
      break;
    }
  }
  const missing = state.multipart.missing;
  let done = file.size - missing.reduce((sum, n) => sum + slice(n).size, 0);
  progress(done / file.size);
  for (let i = 0; i < missing.length; i += PARTS_PER_BATCH) {
    signal.throwIfAborted();
    const batch = missing.slice(i, i + PARTS_PER_BATCH);
    render(status, `Checking parts ${batch[0]}–${batch[batch.length - 1]} of ${count}…`);
    const parts = [];
    for (const n of batch) parts.push({ part_number: n, sha256: await sha256Hex(slice(n)) });
    const { parts: urls } = await app.api.partUrls(cid, ticket.file_id, parts);
    const queue = [...urls];
    const worker = async () => {
      for (let url = queue.shift(); url && !signal.aborted; url = queue.shift()) {
        const blob = slice(url.part_number);
        await putPart(url, blob, signal);
        done += blob.size;
        progress(done / file.size);
      }
    };
    await Promise.all(Array.from({ length: PARALLEL_PARTS }, worker));
  }
  signal.throwIfAborted();
}
