// The group's members tab: who is in the group, by name with their user id beside it, and with
// which role, paged by user id (`GET /conversations/{id}/members`), for members only like
// everything else. Each row offers what the caller may do by the API's rules: owners change any
// role and remove anyone, admins make members admins and remove members, anyone leaves; the
// API's answer is shown in the row (it checks the rules inside its writes, e.g. the last owner).
// Owners and admins also see the group's invite links and can revoke them.

import { h, render } from '../dom.js';
import { when } from '../format.js';
import { inviteUrl } from './group.js';

export async function membersTab(panel, app, cid, group, onCleanup, hooks) {
  const list = h('ul', { class: 'member-list', 'aria-label': 'Members' });
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Load more members');
  let cursor = null;
  let loading = false;

  async function load() {
    if (loading) return;
    loading = true;
    try {
      const page = await app.api.members(cid, cursor, 50);
      const ids = page.members.map((m) => m.user_id);
      await app.people.lookup(ids);
      for (const m of page.members) {
        const you = m.user_id === app.session.user;
        const known = app.people.get(m.user_id);
        list.append(memberRow(app, cid, group, m, you, known, hooks));
      }
      cursor = page.cursor;
      more.hidden = !cursor;
    } finally {
      loading = false;
    }
  }
  // Only with a cursor: without one the API answers the first page, which is already listed.
  more.addEventListener('click', () => cursor && load().catch((e) => app.notify(e.message)));
  const retention = group.retention_days
    ? `Files shared now stay for ${group.retention_days} day${group.retention_days === 1 ? '' : 's'}.`
    : 'Files shared now are kept until deleted.';
  const manager = group.role === 'owner' || group.role === 'admin';
  const invites = manager ? h('section', { class: 'invites', 'aria-labelledby': 'invites-title' }) : null;
  render(panel,
    h('p', { class: 'muted small' },
      'Created by ', app.people.person(group.created_by), ` on ${when(group.created_at)}. ${retention}`),
    list, more, invites);
  await load();
  if (invites) await inviteList(invites, app, cid);
  onCleanup(() => {});
}

/** One member, with the actions the caller's role allows on them. */
function memberRow(app, cid, group, m, you, known, hooks) {
  const status = h('p', { class: 'small member-status', role: 'alert' });
  const row = h('li', { class: 'member', dataset: { user: m.user_id } });
  const who = app.people.label(m.user_id);
  const act = async (work, done) => {
    render(status);
    try {
      await work();
      done();
    } catch (err) {
      // A 404 says the caller was removed meanwhile (back to the list, as from the other tabs)
      // or that the member acted on is gone: the group itself answers which.
      if (err.status === 404 && !(await app.api.conversation(cid).then(() => true, (e) => hooks.failed(e)))) return;
      // The rules' own words: "a conversation keeps at least one owner…", "only owners…".
      render(status, err.message);
    }
  };
  const actions = [];
  const mine = group.role;
  const roles = mine === 'owner' ? ['member', 'admin', 'owner'] : mine === 'admin' && m.role === 'member' ? ['member', 'admin'] : [];
  if (!you && roles.length) {
    const id = `role-${m.user_id}`;
    const select = h('select', { id, class: 'role-select' }, roles.map((r) => h('option', { value: r, selected: r === m.role }, r)));
    select.addEventListener('change', () => act(
      () => app.api.changeRole(cid, m.user_id, select.value),
      () => { m.role = select.value; row.replaceWith(memberRow(app, cid, group, m, you, known, hooks)); },
    ));
    actions.push(h('label', { for: id, class: 'sr-only' }, `Role of ${who}`), select);
  }
  const mayRemove = mine === 'owner' || (mine === 'admin' && m.role === 'member');
  if (you || mayRemove) {
    actions.push(h('button', {
      type: 'button', class: 'link danger',
      onclick: () => {
        const question = you ? 'Leave this group? You will no longer see its messages or files.' : `Remove ${who} from the group?`;
        if (!window.confirm(question)) return;
        act(() => app.api.leave(cid, m.user_id), () => {
          if (you) {
            // route() clears the banner when the address changes; this listener speaks after it.
            window.addEventListener('hashchange', () => app.notify(`You left ${group.title}.`, 'info'), { once: true });
            location.hash = '#/';
          } else {
            row.remove();
          }
        });
      },
    }, you ? 'Leave group' : 'Remove'));
  }
  render(row,
    app.people.avatar(m.user_id),
    h('span', { class: 'member-name' }, app.people.person(m.user_id, { you }),
      h('span', { class: 'member-id muted small' }, m.user_id),
      known && !known.signed_in ? h('span', { class: 'muted small' }, 'has not signed in yet') : null),
    h('span', { class: `role role-${m.role}` }, m.role),
    h('time', { class: 'muted small', datetime: m.joined_at, title: when(m.joined_at) }, `joined ${when(m.joined_at)}`),
    actions.length ? h('span', { class: 'member-actions' }, actions) : null,
    status);
  return row;
}

/** The group's invite links, newest first, each with its state; active ones can be revoked, and
 *  disabled ones (their maker may no longer invite; a promotion would revive them) too. */
async function inviteList(section, app, cid) {
  const { invites } = await app.api.invites(cid);
  const rows = invites.map((invite) => {
    const revoke = invite.status === 'active' || invite.status === 'disabled'
      ? h('button', {
        type: 'button', class: 'link',
        'aria-label': `Revoke the invite link made ${when(invite.created_at)}`,
        async onclick() {
          if (!window.confirm('Revoke this invite link? Nobody can join with it any more.')) return;
          try {
            await app.api.revokeInvite(cid, invite.code);
            await inviteList(section, app, cid);
          } catch (err) {
            app.notify(err.message);
          }
        },
      }, 'Revoke')
      : null;
    const uses = invite.max_uses ? `${invite.uses} of ${invite.max_uses} used` : `${invite.uses} used`;
    return h('li', { class: 'invite-row', dataset: { status: invite.status } },
      h('span', {}, 'By ', app.people.person(invite.created_by), ` · ${when(invite.created_at)} · ${uses} · `,
        h('span', { class: `status ${invite.status}` }, invite.status.replace('_', ' '))),
      invite.status === 'active'
        ? h('input', { readonly: true, class: 'invite-link', value: inviteUrl(invite), 'aria-label': 'Invite link' })
        : null,
      revoke);
  });
  render(section,
    h('h2', { id: 'invites-title' }, 'Invite links'),
    rows.length ? h('ul', { class: 'invite-list' }, rows) : h('p', { class: 'muted small' }, 'No invite links yet.'));
}
