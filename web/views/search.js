// Searching a list of files (a group's files tab, All files): a search box that searches as the
// person types, type filter chips, and the results newest first with "load more" paging. The
// server filters (`q`, `type`: GET …/files and GET /files); this side sees to it that an answer
// to an older query never replaces a newer one's.

import { h, render } from '../dom.js';

/** The API's file kinds (FileInfo `kind`, the `type` filter), as the chips name them. */
export const KINDS = [
  ['', 'All types'], ['image', 'Images'], ['video', 'Videos'], ['audio', 'Audio'],
  ['document', 'Documents'], ['archive', 'Archives'], ['other', 'Other'],
];

/** Typing pauses this long before a search is sent: one request per word, not per key. */
export const SEARCH_DELAY_MS = 250;

const CJK = /[\u3040-\u30FF\u3400-\u4DBF\u4E00-\u9FFF\uAC00-\uD7AF\uF900-\uFAFF\u{20000}-\u{2FA1F}]/u;

/** Whether the server can search for `q`: a word of two letters or digits, or one CJK
 *  character (it answers `query_too_short` otherwise). */
export function searchable(q) {
  if (CJK.test(q)) return true;
  return q.split(/[^\p{L}\p{N}]+/u).some((word) => [...word].length >= 2);
}

/**
 * The search box and the type chips. `onChange(filters)` is called with `{q, type}` (empty
 * values left out) a moment after typing stops, at once for a chip or Enter.
 */
export function searchControls({ id, label, onChange }) {
  let timer = null;
  let sent = '';
  const box = h('input', {
    id: `${id}-q`, type: 'search', name: 'q', placeholder: 'Search by name', autocomplete: 'off',
    maxlength: 100, enterkeyhint: 'search', 'aria-describedby': `${id}-hint`,
  });
  const hint = h('p', { id: `${id}-hint`, class: 'hint search-hint', 'aria-live': 'polite' });
  const chips = h('fieldset', { class: 'chips' },
    h('legend', { class: 'sr-only' }, 'File type'),
    KINDS.map(([value, text]) => {
      const chipId = `${id}-type-${value || 'all'}`;
      return [
        h('input', { type: 'radio', name: `${id}-type`, id: chipId, value, class: 'chip-input', checked: !value }),
        h('label', { for: chipId, class: 'chip' }, text),
      ];
    }));

  /** What to search for: the box's text only once the server can search for it. */
  function filters() {
    const q = box.value.trim();
    const type = chips.querySelector('input:checked')?.value || '';
    const out = {};
    if (q && searchable(q)) out.q = q;
    if (type) out.type = type;
    return out;
  }

  function send() {
    clearTimeout(timer);
    timer = null;
    // One letter would match too much to be worth a request: say what is needed instead.
    const q = box.value.trim();
    render(hint, q && !searchable(q) ? 'Type at least two letters or digits, or one Chinese, Japanese or Korean character.' : '');
    const next = filters();
    const key = JSON.stringify(next);
    if (key === sent) return; // a pause or an Enter that changed nothing
    sent = key;
    onChange(next);
  }

  box.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(send, SEARCH_DELAY_MS);
  });
  chips.addEventListener('change', send);
  const form = h('form', { class: 'file-search', role: 'search', onsubmit: (e) => { e.preventDefault(); send(); } },
    h('label', { for: `${id}-q`, class: 'sr-only' }, label),
    box, hint, chips);
  return { el: form, filters, stop: () => clearTimeout(timer) };
}

/**
 * A paged list of file cards for `fetchPage(filters, cursor, signal)` (`{files, cursor}`).
 * `refilter(filters)` starts again from the first page; whatever an older query answers after
 * that is dropped (and its request aborted). `card(info)` makes an entry's card.
 */
export function fileResults(app, { label, fetchPage, card, emptyText }) {
  const list = h('ul', { class: 'file-list', 'aria-label': label });
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Load more files');
  const sentinel = h('div', { class: 'sentinel' });
  const status = h('p', { class: 'sr-only', role: 'status' });
  const cards = new Map(); // file id → {card, item, info}
  let filters = {};
  let cursor = null;
  let loading = null;
  let generation = 0;
  let controller = new AbortController();

  function showEmpty() {
    if (list.children.length) return;
    list.append(h('li', { class: 'empty' }, emptyText(filters)));
  }

  function add(info, where = 'end') {
    if (cards.has(info.file_id)) return null;
    const c = card(info);
    const item = h('li', {}, c.el);
    cards.set(info.file_id, { card: c, item, info });
    list.querySelector(':scope > li.empty')?.remove();
    if (where === 'top') list.prepend(item);
    else list.append(item);
    return c;
  }

  function remove(fileId) {
    cards.get(fileId)?.item.remove();
    cards.delete(fileId);
  }

  /** The next page of the current query (once at a time); an overtaken answer is dropped. */
  function load() {
    if (loading) return loading;
    const mine = generation;
    const { signal } = controller;
    const run = (async () => {
      try {
        const page = await fetchPage(filters, cursor, signal);
        if (mine !== generation) return; // the query changed meanwhile
        for (const f of page.files) add(f)?.update(f);
        cursor = page.cursor;
        more.hidden = !cursor;
        showEmpty();
        if (Object.keys(filters).length) {
          render(status, cards.size ? `${cards.size}${cursor ? '+' : ''} file${cards.size === 1 ? '' : 's'} found` : 'No files found');
        }
      } catch (e) {
        if (mine !== generation) return;
        throw e;
      }
    })();
    loading = run;
    run.finally(() => { if (loading === run) loading = null; }).catch(() => {});
    return run;
  }

  function refilter(next) {
    generation += 1;
    controller.abort();
    controller = new AbortController();
    filters = next;
    loading = null;
    cursor = null;
    cards.clear();
    render(list);
    render(status);
    more.hidden = true;
    list.setAttribute('aria-busy', 'true');
    const mine = generation;
    return load().finally(() => { if (mine === generation) list.removeAttribute('aria-busy'); });
  }

  more.addEventListener('click', () => cursor && load().catch((e) => app.notify(e.message)));
  const observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting) && cursor) load().catch((e) => app.notify(e.message));
  });
  observer.observe(sentinel);

  return {
    els: [status, list, more, sentinel],
    list,
    cards,
    add,
    remove,
    showEmpty,
    load,
    refilter,
    get filters() {
      return filters;
    },
    get cursor() {
      return cursor;
    },
    stop() {
      observer.disconnect();
      generation += 1;
      controller.abort();
    },
  };
}
