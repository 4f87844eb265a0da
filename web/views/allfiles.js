// All files: the files of every group the reader is in now, newest first (GET /files), each
// naming its group (a link that opens it), with the same search box and type chips as a group's
// files tab. A group the reader leaves or is removed from takes its files off the list at once
// (the group list, readstate.js, follows that live); the server leaves them out from then on.

import { h, render } from '../dom.js';
import { fileCard } from './files.js';
import { fileResults, searchControls } from './search.js';

export async function allFilesView(view, app) {
  const limits = app.limits || await app.api.config();
  app.limits = limits;
  const gallery = { later: { can: () => !!results.cursor, load: () => results.load() } };
  const results = fileResults(app, {
    label: 'Files of all your groups, newest first',
    fetchPage: (filters, cursor, signal) => app.api.allFiles(filters, cursor, 30, signal),
    card: (f) => fileCard(app, f.conversation_id, f, { gallery, group: true }),
    emptyText: (filters) => (Object.keys(filters).length ? 'No files match.' : 'No files shared in your groups yet.'),
  });
  const search = searchControls({
    id: 'all-files-search',
    label: 'Search the files of all your groups by name',
    onChange: (filters) => results.refilter(filters).catch((e) => app.notify(e.message)),
  });

  /** Files of a group the reader has left (or was removed from) leave the list. Only groups the
   *  list has had and lost: one joined a moment ago may not be in it yet. */
  const seen = new Set();
  function dropLeftGroups() {
    if (!app.readState.loaded) return;
    const now = new Set(app.readState.list().map((g) => g.conversation_id));
    const left = new Set([...seen].filter((c) => !now.has(c)));
    for (const c of now) seen.add(c);
    for (const c of left) seen.delete(c);
    if (!left.size) return;
    for (const [id, entry] of [...results.cards]) {
      if (left.has(entry.info.conversation_id)) results.remove(id);
    }
    results.showEmpty();
  }

  render(view, h('section', { class: 'all-files' },
    h('div', { class: 'group-head' },
      h('a', { class: 'back', href: '#/', 'aria-label': 'Back to my groups' }, '‹'),
      h('div', { class: 'group-heading' },
        h('h1', { tabindex: -1 }, 'All files'),
        h('p', { class: 'muted small' }, 'Shared in any of your groups, newest first'))),
    search.el,
    h('div', { class: 'tab-panel' }, results.els)));
  const unsubscribe = app.readState.subscribe(dropLeftGroups);
  dropLeftGroups();
  await results.load();
  if (!document.activeElement || document.activeElement === document.body) {
    view.querySelector('.group-heading h1')?.focus({ preventScroll: true });
  }
  return () => {
    unsubscribe();
    search.stop();
    results.stop();
  };
}
