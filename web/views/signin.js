// Sign in: at the identity provider (OpenID Connect: a button that goes there and back), as a
// demo user (the local stack's token route), or by pasting a token from the identity provider.

import { h, render } from '../dom.js';

export function signInView(view, app) {
  const source = app.tokens;
  if (source.kind === 'oidc') return providerSignIn(view, app);
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

/** OpenID Connect: the provider's own page asks for the password; this one only sends there. */
function providerSignIn(view, app) {
  const error = h('p', { class: 'form-error', role: 'alert', id: 'signin-error' });
  const button = h('button', {
    type: 'button', class: 'primary', id: 'signin', 'aria-describedby': 'signin-help signin-error',
    async onclick() {
      app.tabs.stopAsking(); // the page leaves for the provider: no other tab's session now
      render(error);
      button.disabled = true;
      button.textContent = 'Signing in…';
      try {
        await app.tokens.signIn({ returnTo: app.returnTo });
      } catch (err) {
        button.disabled = false;
        button.textContent = 'Sign in';
        render(error, err.message);
        button.focus();
      }
    },
  }, 'Sign in');
  render(view, h('section', { class: 'panel signin', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Sign in to GroupShare'),
    h('p', { class: 'muted' }, 'Every group you belong to, with every file shared there, on any device.'),
    h('p', { id: 'signin-help', class: 'hint' }, 'You sign in with your organisation’s account, on its own sign-in page.'),
    error,
    button));
  button.focus();
  return null;
}
