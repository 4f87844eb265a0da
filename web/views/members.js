// The group's members tab: who is in the group and with which role, paged by user id
// (`GET /conversations/{id}/members`), for members only like everything else.

import { h, render } from '../dom.js';
import { initials, when } from '../format.js';

export async function membersTab(panel, app, cid, group, onCleanup) {
  const list = h('ul', { class: 'member-list', 'aria-label': 'Members' });
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Load more members');
  let cursor = null;
  let loading = false;

  async function load() {
    if (loading) return;
    loading = true;
    try {
      const page = await app.api.members(cid, cursor, 50);
      for (const m of page.members) {
        const you = m.user_id === app.session.user ? ' (you)' : '';
        list.append(h('li', { class: 'member', dataset: { user: m.user_id } },
          h('span', { class: 'avatar', 'aria-hidden': 'true' }, initials(m.user_id)),
          h('span', { class: 'member-name' }, m.user_id + you),
          h('span', { class: `role role-${m.role}` }, m.role),
          h('time', { class: 'muted small', datetime: m.joined_at, title: when(m.joined_at) }, `joined ${when(m.joined_at)}`)));
      }
      cursor = page.cursor;
      more.hidden = !cursor;
    } finally {
      loading = false;
    }
  }
  more.addEventListener('click', () => load().catch((e) => app.notify(e.message)));
  const retention = group.retention_days
    ? `Files shared now stay for ${group.retention_days} day${group.retention_days === 1 ? '' : 's'}.`
    : 'Files shared now are kept until deleted.';
  render(panel,
    h('p', { class: 'muted small' },
      `Created by ${group.created_by} on ${when(group.created_at)}. ${retention}`),
    list, more);
  await load();
  onCleanup(() => {});
}
