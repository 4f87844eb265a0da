// My groups: every conversation the caller belongs to, and a form to create one.

import { h, render } from '../dom.js';
import { fromNow } from '../format.js';

export async function groupsView(view, app) {
  const list = h('ul', { class: 'group-list', 'aria-labelledby': 'groups-title' });
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Show more groups');
  let cursor = null;
  let loading = false;

  async function load() {
    if (loading) return;
    loading = true;
    try {
      const page = await app.api.conversations(cursor);
      for (const c of page.conversations) list.append(groupItem(app, c));
      cursor = page.cursor;
      more.hidden = !cursor;
      if (!list.children.length) {
        list.append(h('li', { class: 'empty' }, 'You are not in any group yet. Create one, or ask a group owner to add you.'));
      }
    } finally {
      loading = false;
    }
  }
  // Only with a cursor: without one the API answers the first page, which is already listed.
  more.addEventListener('click', () => cursor && load().catch((e) => app.notify(e.message)));

  const title = h('input', { id: 'new-title', name: 'title', required: true, maxlength: 200, placeholder: 'Design team' });
  const members = h('input', {
    id: 'new-members', name: 'members', placeholder: 'bob, carol', 'aria-describedby': 'new-members-help',
  });
  const error = h('p', { class: 'form-error', role: 'alert' });
  const create = h('form', {
    class: 'panel create', 'aria-labelledby': 'create-title',
    async onsubmit(e) {
      e.preventDefault();
      render(error);
      try {
        const ids = members.value.split(/[\s,]+/).filter(Boolean);
        const c = await app.api.createConversation(title.value.trim(), ids);
        location.hash = `#/g/${encodeURIComponent(c.conversation_id)}`;
      } catch (err) {
        render(error, err.message);
      }
    },
  },
  h('h2', { id: 'create-title' }, 'New group'),
  h('label', { for: 'new-title' }, 'Name'), title,
  h('label', { for: 'new-members' }, 'Members (optional)'), members,
  h('p', { id: 'new-members-help', class: 'hint' }, 'User ids, separated by commas. You become the owner.'),
  error,
  h('button', { type: 'submit', class: 'primary' }, 'Create group'));

  render(view, h('div', { class: 'groups' },
    h('section', { class: 'panel' }, h('h1', { id: 'groups-title' }, 'My groups'), list, more),
    create));
  await load();
  view.focus({ preventScroll: true });
  return null;
}

function groupItem(app, c) {
  return h('li', {},
    h('a', { class: 'group-link', href: `#/g/${encodeURIComponent(c.conversation_id)}` },
      h('span', { class: 'group-avatar', 'aria-hidden': 'true' }, c.title.slice(0, 1).toUpperCase()),
      h('span', { class: 'group-text' },
        h('span', { class: 'group-title' }, c.title),
        h('span', { class: 'muted small' }, `${c.role} · created by `, app.people.person(c.created_by), ` ${fromNow(c.created_at)}`))));
}
