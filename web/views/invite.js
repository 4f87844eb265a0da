// Joining by invite link (`#/invite/{code}`): what the link would join (the group's title, how
// many are in it, who invited), then one click to join. A person who opens the link signed out
// signs in first and comes back here. Joining twice just opens the group.

import { h, render } from '../dom.js';

export async function inviteView(view, app, code, { current }) {
  const error = h('p', { class: 'form-error', role: 'alert' });
  let preview;
  try {
    preview = await app.api.invitePreview(code);
  } catch (e) {
    if (!current()) return null; // left meanwhile, or signed out by a refused token
    // Not an answer about the link (offline, the API failing): route() says what went wrong.
    if (e.status !== 404 && e.status !== 400 && e.code !== 'invite_gone') throw e;
    const gone = e.code === 'invite_gone';
    render(view, h('section', { class: 'panel empty' },
      h('h1', {}, gone ? 'This invite link no longer works' : 'Invite link not found'),
      h('p', { role: 'alert' }, gone ? e.message : 'Check the link, or ask for a new one.'),
      h('p', {}, h('a', { href: '#/' }, 'Go to my groups'))));
    return null;
  }
  if (!current()) return null;
  const join = h('button', { type: 'submit', class: 'primary' }, 'Join group');
  const people = `${preview.member_count} member${preview.member_count === 1 ? '' : 's'}`;
  render(view, h('form', {
    class: 'panel invite-preview', 'aria-labelledby': 'invite-title',
    async onsubmit(e) {
      e.preventDefault();
      render(error);
      join.disabled = true;
      try {
        const group = await app.api.acceptInvite(code);
        location.hash = `#/g/${encodeURIComponent(group.conversation_id)}`;
      } catch (err) {
        join.disabled = false;
        render(error, err.message);
      }
    },
  },
  h('p', { class: 'muted' }, preview.inviter_name ? `${preview.inviter_name} invited you to join` : 'You are invited to join'),
  h('h1', { id: 'invite-title' }, preview.title),
  h('p', { class: 'muted small' }, people),
  error,
  join));
  join.focus();
  return null;
}
