// My groups, the home screen: every group the caller is in, most recent activity first, each
// with a preview of its last entry, when that was, and a badge of what is unread. It is painted
// from readstate.js on every change, so a group that gets a message moves to the top, and a
// group read on another device loses its badge, while the list is open. A form to create a
// group, and an offer to turn on desktop notifications.

import { newId } from '../api.js';
import { h, render } from '../dom.js';
import { CLOCK_MS, fromNow, graphemes, refreshTimes, when } from '../format.js';
import { systemText } from './messages.js';

export async function groupsView(view, app, { current, onCleanup }) {
  const list = h('ul', { class: 'group-list', 'aria-labelledby': 'groups-title' });
  const items = new Map(); // conversation id → its <li>, kept across paints (and focus with it)

  /** The list as readstate.js has it now: items reordered and repainted, none recreated. */
  function paint() {
    const groups = app.readState.list();
    const focusedCid = document.activeElement?.closest?.('.group-list > li')?.dataset.cid;
    if (!groups.length) {
      items.clear();
      render(list, h('li', { class: 'empty' }, 'You are not in any group yet. Create one, or ask a group owner to add you.'));
      return;
    }
    list.querySelector(':scope > .empty')?.remove();
    const wanted = new Set(groups.map((g) => g.conversation_id));
    for (const [cid, li] of items) {
      if (!wanted.has(cid)) {
        li.remove();
        items.delete(cid);
      }
    }
    groups.forEach((g, i) => {
      let li = items.get(g.conversation_id);
      if (!li) {
        li = h('li', { dataset: { cid: g.conversation_id } });
        items.set(g.conversation_id, li);
      }
      const shape = JSON.stringify([g.title, g.last_seq, g.unread_count, g.last_activity_at, g.last_message]);
      if (li.dataset.shape !== shape) {
        li.dataset.shape = shape;
        render(li, groupLink(app, g));
      }
      if (list.children[i] !== li) list.insertBefore(li, list.children[i] || null);
    });
    // A group moved (or was repainted) under the keyboard: focus stays on it.
    if (focusedCid && !list.contains(document.activeElement)) {
      items.get(focusedCid)?.querySelector('a')?.focus({ preventScroll: true });
    }
  }

  const title = h('input', { id: 'new-title', name: 'title', required: true, maxlength: 200, placeholder: 'Design team' });
  const members = h('input', {
    id: 'new-members', name: 'members', placeholder: 'bob, carol', 'aria-describedby': 'new-members-help',
  });
  const error = h('p', { class: 'form-error', role: 'alert' });
  let unanswered = null; // {asked, id}
  const create = h('form', {
    class: 'panel create', 'aria-labelledby': 'create-title',
    async onsubmit(e) {
      e.preventDefault();
      render(error);
      const ids = members.value.split(/[\s,]+/).filter(Boolean);
      // A create whose answer never came may have made the group: the same form sent again
      // reuses its client_request_id, so the API answers that group instead of a second one.
      const asked = JSON.stringify([title.value.trim(), ids]);
      if (unanswered?.asked !== asked) unanswered = { asked, id: newId() };
      try {
        const c = await app.api.createConversation(title.value.trim(), ids, unanswered.id);
        unanswered = null;
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
    h('section', { class: 'panel' },
      h('div', { class: 'panel-head' },
        h('h1', { id: 'groups-title' }, 'My groups'),
        // Every group's files in one list, searchable (allfiles.js).
        h('a', { class: 'button secondary all-files-link', href: '#/files' }, 'All files')),
      notificationOffer(), list),
    create));
  // What is known already is shown at once; the list is read again (a new device, another tab's
  // changes) and painted when it answers.
  onCleanup(app.readState.subscribe(paint));
  if (app.readState.loaded) paint();
  await app.readState.reload();
  if (!current()) return;
  paint();
  view.focus({ preventScroll: true });
  const clock = setInterval(() => refreshTimes(list), CLOCK_MS);
  onCleanup(() => clearInterval(clock));
}

function groupLink(app, g) {
  const unread = g.unread_count;
  return h('a', { class: `group-link${unread ? ' unread' : ''}`, href: `#/g/${encodeURIComponent(g.conversation_id)}` },
    h('span', { class: 'group-avatar', 'aria-hidden': 'true' }, (graphemes(g.title)[0] || '').toUpperCase()),
    h('span', { class: 'group-text' },
      h('span', { class: 'group-title' }, g.title),
      h('span', { class: 'group-preview muted small' }, previewText(app, g))),
    h('span', { class: 'group-meta' },
      h('time', { class: 'muted small', datetime: g.last_activity_at, title: when(g.last_activity_at), dataset: { relative: '' } },
        fromNow(g.last_activity_at)),
      unread ? h('span', { class: 'unread-badge' },
        h('span', { 'aria-hidden': 'true' }, unread > 99 ? '99+' : String(unread)),
        h('span', { class: 'sr-only' }, `, ${unread} unread`)) : null));
}

/** The last entry in a line: who and what (a snippet, a file's name, what happened). */
function previewText(app, g) {
  const m = g.last_message;
  if (!m) return [`${g.role} · created by `, app.people.person(g.created_by)];
  const who = m.sender === app.session.user ? 'You' : app.people.person(m.sender);
  switch (m.kind) {
    case 'text': return [who, ': ', m.text];
    case 'file': return [who, ' shared ', m.file_name];
    case 'system': return systemText(app, m);
    default: return 'Message deleted';
  }
}

/** Desktop notifications need the person's permission, asked only when they choose to. */
function notificationOffer() {
  if (!('Notification' in window) || Notification.permission !== 'default') return null;
  const offer = h('p', { class: 'notify-offer small' },
    'Get a desktop notification when a message arrives while GroupShare is in the background. ');
  offer.append(h('button', {
    type: 'button',
    class: 'secondary',
    async onclick() {
      await Notification.requestPermission();
      offer.remove();
    },
  }, 'Turn on notifications'));
  return offer;
}
