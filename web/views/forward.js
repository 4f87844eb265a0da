// Forward: shares a copy of a file in another of the reader's groups (POST …/forward). A modal
// dialog lists the reader's other groups to choose from; the copy appears there as a new file
// message marked as forwarded. A retry after a failure sends the same `client_msg_id`, so it
// answers the copy already made instead of making a second one.

import { newId } from '../api.js';
import { h, render } from '../dom.js';

/** Opens the dialog for `info` (a file of group `cid`); focus returns to `opener` on close. */
export async function openForward(app, cid, info, opener) {
  const ids = new Map(); // target group → the client_msg_id of its forward, kept across retries
  const error = h('p', { class: 'form-error', role: 'alert' });
  const choices = h('div', { class: 'forward-choices' }, h('p', { class: 'muted' }, 'Loading your groups…'));
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Forward');
  const cancel = h('button', { type: 'button', class: 'secondary', onclick: () => dialog.close() }, 'Cancel');
  const form = h('form', { onsubmit },
    h('h2', { id: 'forward-title' }, 'Forward ', h('span', { class: 'forward-name' }, info.name)),
    choices, error,
    h('div', { class: 'dialog-actions' }, cancel, submit));
  const dialog = h('dialog', { class: 'forward-dialog', 'aria-labelledby': 'forward-title' }, form);
  dialog.addEventListener('close', () => {
    dialog.remove();
    window.removeEventListener('hashchange', leave);
    // The card may have been drawn again meanwhile (its preview came): its new Forward button.
    const card = document.querySelector(`.file-card[data-file-id="${CSS.escape(info.file_id)}"]`);
    (opener?.isConnected ? opener : card?.querySelector('button.forward'))?.focus({ preventScroll: true });
  });
  // Another screen (the browser's Back button) closes it.
  const leave = () => dialog.close();
  window.addEventListener('hashchange', leave);
  // Light dismiss, as the full-screen view: a click on the backdrop closes it.
  dialog.addEventListener('click', (e) => { if (e.target === dialog) dialog.close(); });
  document.body.append(dialog);
  dialog.showModal();
  cancel.focus();

  // The reader's groups, as the group list has them (read once per sign-in, kept live).
  await app.readState.start().catch(() => {});
  if (!dialog.open) return;
  const others = app.readState.list().filter((g) => g.conversation_id !== cid);
  if (!others.length) {
    render(choices, h('p', {}, 'You are not in any other group to forward it to.'));
    submit.hidden = true;
    return;
  }
  render(choices, h('fieldset', { class: 'forward-groups' },
    h('legend', {}, 'To which group?'),
    h('ul', {}, others.map((g, i) => h('li', {},
      h('input', {
        type: 'radio', name: 'forward-to', id: `forward-to-${i}`, value: g.conversation_id,
        required: true, dataset: { title: g.title },
      }),
      h('label', { for: `forward-to-${i}` }, g.title))))));
  choices.querySelector('input').focus();

  async function onsubmit(e) {
    e.preventDefault();
    const chosen = form.querySelector('input[name="forward-to"]:checked');
    if (!chosen || submit.disabled) return;
    const to = chosen.value;
    if (!ids.has(to)) ids.set(to, newId());
    render(error);
    submit.disabled = true;
    form.setAttribute('aria-busy', 'true');
    render(submit, 'Forwarding…');
    try {
      await app.api.forwardFile(cid, info.file_id, to, ids.get(to));
    } catch (err) {
      render(error, err.message);
      submit.disabled = false;
      form.removeAttribute('aria-busy');
      render(submit, 'Forward');
      // Disabling the focused button dropped focus to <body>.
      submit.focus();
      return;
    }
    dialog.close();
    app.notify([`Forwarded ${info.name} to `,
      h('a', { href: `#/g/${encodeURIComponent(to)}/files` }, chosen.dataset.title), '.'], 'info');
  }
}
