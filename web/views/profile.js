// Your profile (`#/me`): the name everyone in your groups sees, and whether they see your email.

import { h, render } from '../dom.js';

export async function profileView(view, app, { current }) {
  const me = await app.api.me();
  if (!current()) return null;
  const name = h('input', {
    id: 'display-name', name: 'display_name', required: true, maxlength: 64,
    value: me.display_name || '', autocomplete: 'name', 'aria-describedby': 'name-help profile-status',
  });
  const showEmail = h('input', { id: 'show-email', type: 'checkbox', checked: me.show_email, disabled: !me.email });
  const status = h('p', { id: 'profile-status', class: 'small', role: 'status' });
  render(view, h('form', {
    class: 'panel profile', 'aria-labelledby': 'profile-title',
    async onsubmit(e) {
      e.preventDefault();
      render(status);
      try {
        const saved = await app.api.updateMe({ display_name: name.value, show_email: showEmail.checked });
        app.setMe(saved);
        render(status, 'Saved.');
      } catch (err) {
        render(status, h('span', { class: 'form-error' }, err.message));
        name.focus();
      }
    },
  },
  h('h1', { id: 'profile-title' }, 'Your profile'),
  h('label', { for: 'display-name' }, 'Your name'),
  name,
  h('p', { id: 'name-help', class: 'hint' }, `People in your groups see this name. Your user id is ${me.user_id}.`),
  me.email
    ? h('label', { for: 'show-email', class: 'check' }, showEmail, ` Show my email (${me.email}) to people in my groups`)
    : null,
  status,
  h('button', { type: 'submit', class: 'primary' }, 'Save')));
  name.focus();
  return null;
}
