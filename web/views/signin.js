// Sign in: pick a demo user (local stack) or paste a token from the identity provider.

import { h, render } from '../dom.js';

export function signInView(view, app) {
  const source = app.tokens;
  const error = h('p', { class: 'form-error', role: 'alert', id: 'signin-error' });
  const busy = (on) => { button.disabled = on; button.textContent = on ? 'Signing in…' : 'Sign in'; };
  let field;
  if (source.kind === 'local') {
    field = h('input', {
      id: 'user', name: 'user', required: true, autocomplete: 'username', list: 'demo-users',
      value: source.users[1] || source.users[0] || '',
      'aria-describedby': 'user-help signin-error',
    });
  } else {
    field = h('textarea', { id: 'user', name: 'token', required: true, rows: 4, 'aria-describedby': 'user-help signin-error' });
  }
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h('form', {
    class: 'panel signin', 'aria-labelledby': 'signin-title',
    async onsubmit(e) {
      e.preventDefault();
      render(error);
      busy(true);
      try {
        const input = source.kind === 'local' ? { user: field.value.trim() } : { token: field.value };
        app.signIn(await source.signIn(input));
      } catch (err) {
        busy(false);
        render(error, err.message);
        field.focus();
      }
    },
  },
  h('h1', { id: 'signin-title' }, 'Sign in to GroupShare'),
  h('p', { class: 'muted' }, 'Every group you belong to, with every file shared there, on any device.'),
  source.kind === 'local'
    ? [
      h('label', { for: 'user' }, 'User'),
      field,
      h('datalist', { id: 'demo-users' }, source.users.map((u) => h('option', { value: u }))),
      h('p', { id: 'user-help', class: 'hint' },
        'Local stack: a token for this user comes from the stack itself. Demo users: ',
        source.users.map((u, i) => [i ? ', ' : '', h('button', {
          type: 'button', class: 'link', onclick: () => { field.value = u; field.focus(); },
        }, u)]),
        '.'),
    ]
    : [
      h('label', { for: 'user' }, 'Access token'),
      field,
      h('p', { id: 'user-help', class: 'hint' }, 'Paste a JWT from your identity provider; its `sub` is your user id.'),
    ],
  error,
  button);
  render(view, form);
  field.focus();
  return null;
}
