// All files: the files of every group the reader is in now, newest first (GET /files), each
// naming its group (a link that opens it), with the same search box and type chips as a group's
// files tab. Read afresh each time it opens: a group the reader has left or was removed from is
// no longer theirs, and the server leaves its files out (a removed member gets no push of the
// removal to act on here).

import { h, render } from '../dom.js';
import { fileCard } from './files.js';
import { fileResults, searchControls } from './search.js';

export async function allFilesView(view, app, { current, onCleanup }) {
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

  render(view, h('section', { class: 'all-files' },
    h('div', { class: 'group-head' },
      h('a', { class: 'back', href: '#/', 'aria-label': 'Back to my groups' }, '‹'),
      h('div', { class: 'group-heading' },
        h('h1', { tabindex: -1 }, 'All files'),
        h('p', { class: 'muted small' }, 'Shared in any of your groups, newest first'))),
    search.el,
    h('div', { class: 'tab-panel' }, results.els)));
  onCleanup(() => {
    search.stop();
    results.stop();
  });
  await results.load();
  if (current() && (!document.activeElement || document.activeElement === document.body)) {
    view.querySelector('.group-heading h1')?.focus({ preventScroll: true });
  }
}
