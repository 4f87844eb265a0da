// A group: its header (title, member count, the caller's role, invite and add-member forms for
// owners and admins, kept current as members change) and three tabs: the messages as a chat
// window (messages.js), the files (files.js) and the members (members.js).

import { newId } from '../api.js';
import { h, render } from '../dom.js';
import { filesTab } from './files.js';
import { membersTab } from './members.js';
import { messagesTab } from './messages.js';

/** `screen` (app.js): whether this screen is still the one shown, and what stops its work. */
export async function groupView(view, app, cid, tab, screen) {
  const { current, onCleanup } = screen;
  // One call for the header: a new device may open a group's address directly.
  const [group, limits] = await Promise.all([
    app.api.conversation(cid),
    app.limits || app.api.config(),
  ]);
  app.limits = limits;
  // The person moved on (or was signed out) meanwhile: that screen stays.
  if (!current()) return;

  // A tab link was chosen: focus goes back to it once the new content is drawn.
  const fromTab = document.activeElement?.classList.contains('tab');
  const base = `#/g/${encodeURIComponent(cid)}`;
  const tabLink = (name, label, href) =>
    h('a', { class: 'tab', href, 'aria-current': tab === name ? 'page' : undefined }, label);
  const panel = h('div', { class: 'tab-panel' });
  const facts = h('p', { class: 'muted small group-facts' });
  const actions = h('div', { class: 'group-actions' });

  /** The header's member count, the caller's role and what that role may do. */
  function paintHead(g) {
    app.groupRole = g.role;
    const people = `${g.member_count} member${g.member_count === 1 ? '' : 's'}`;
    render(facts, `${people} · you are ${article(g.role)} ${g.role}`);
    const canAdd = g.role === 'owner' || g.role === 'admin';
    // Kept while the role allows it: a form being filled in is not thrown away.
    if (canAdd && !actions.children.length) render(actions, inviteForm(app, cid), addMemberForm(app, cid));
    if (!canAdd) render(actions);
    actions.hidden = !canAdd;
  }
  paintHead(group);

  let gone = false;
  /** The caller is no longer a member (removed, or left on another device): back to the list. */
  function lost() {
    if (gone || !current()) return;
    gone = true;
    // route() clears the banner when the address changes; its listener was added first, so
    // this one speaks after it.
    window.addEventListener('hashchange', () => app.notify(
      `You are no longer a member of ${group.title}, so it was closed.`, 'info'), { once: true });
    location.hash = '#/';
  }
  /** An error from this group's API: a 404 means the group is no longer the caller's to read. */
  function failed(err) {
    if (!current()) return;
    if (err.status === 404) lost();
    else if (err.status !== 401) app.notify(err.message);
  }

  let refreshing = null;
  /** Members came, went or changed role: the header asks the API again (once for a burst). */
  function membersChanged(messages) {
    const me = app.session.user;
    if (messages.some((m) => LEAVING.has(m.system?.event) && m.system.user_id === me)) return lost();
    if (!messages.some((m) => MEMBERSHIP.has(m.system?.event)) || refreshing) return null;
    refreshing = app.api.conversation(cid)
      .then((g) => { if (!gone && current()) paintHead(g); })
      .catch(failed)
      .finally(() => { refreshing = null; });
    return refreshing;
  }

  // The messages tab is a chat window: the page is the screen's height, the history scrolls.
  render(view, h('div', { class: tab === 'messages' ? 'group chat' : 'group' },
    h('div', { class: 'group-head' },
      h('a', { class: 'back', href: '#/', 'aria-label': 'Back to my groups' }, '‹'),
      h('div', { class: 'group-heading' },
        h('h1', { tabindex: -1 }, group.title),
        facts),
      actions),
    h('nav', { class: 'tabs', 'aria-label': 'Group sections' },
      tabLink('messages', 'Messages', base), tabLink('files', 'Files', `${base}/files`),
      tabLink('members', 'Members', `${base}/members`)),
    panel));

  const hooks = { failed, membersChanged, current };
  if (tab === 'files') {
    await filesTab(panel, app, cid, onCleanup, hooks);
  } else if (tab === 'members') {
    await membersTab(panel, app, cid, group, onCleanup, hooks);
  } else {
    await messagesTab(panel, app, cid, group, onCleanup, hooks);
  }
  if (!current()) return;
  // What was focused (the group's link, a tab) was replaced by this screen; focus left on
  // <body> would send the next Tab back to the top of the page.
  if (!document.activeElement || document.activeElement === document.body) {
    (fromTab ? view.querySelector('.tab[aria-current="page"]') : view.querySelector('.group-heading h1'))
      ?.focus({ preventScroll: true });
  }
}

/** System events that change who is in the group or with which role. */
const MEMBERSHIP = new Set(['member_added', 'member_joined', 'member_removed', 'member_left', 'role_changed']);
const LEAVING = new Set(['member_removed', 'member_left']);

function article(word) {
  return /^[aeiou]/.test(word) ? 'an' : 'a';
}

/** An invite link for owners and admins: made on request, shown to copy and share. */
function inviteForm(app, cid) {
  const link = h('input', { id: 'invite-link', readonly: true, class: 'invite-link', hidden: true });
  const copy = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Copy link');
  const status = h('span', { class: 'small', role: 'status' });
  // A create whose answer never came may have made a link: asking again reuses its
  // client_request_id, so the API answers that link instead of making a second one.
  let unanswered = null;
  copy.addEventListener('click', async () => {
    link.select();
    try {
      await navigator.clipboard.writeText(link.value);
      render(status, 'Link copied');
    } catch {
      render(status, 'Select the link and copy it');
    }
  });
  return h('details', { class: 'invite' },
    h('summary', {}, 'Invite'),
    h('form', {
      async onsubmit(e) {
        e.preventDefault();
        render(status);
        try {
          unanswered ||= newId();
          const invite = await app.api.createInvite(cid, { client_request_id: unanswered });
          unanswered = null;
          link.value = inviteUrl(invite);
          link.hidden = copy.hidden = false;
          render(status, `Anyone signed in with this link can join until ${new Date(invite.expires_at).toLocaleDateString()}.`);
          link.focus();
          link.select();
        } catch (err) {
          render(status, h('span', { class: 'form-error' }, err.message));
        }
      },
    },
    h('button', { type: 'submit', class: 'primary' }, 'Create invite link'),
    h('label', { for: 'invite-link', class: 'sr-only' }, 'Invite link'),
    link, copy, status));
}

/** The API's link when the deployment names the client's address, else this page's. */
export function inviteUrl(invite) {
  return invite.url || `${location.origin}${location.pathname}#/invite/${encodeURIComponent(invite.code)}`;
}

function addMemberForm(app, cid) {
  const input = h('input', { id: 'add-member', name: 'user_id', required: true, placeholder: 'user id', autocomplete: 'off' });
  const status = h('span', { class: 'small', role: 'status' });
  return h('details', { class: 'add-member' },
    h('summary', {}, 'Add member'),
    h('form', {
      async onsubmit(e) {
        e.preventDefault();
        render(status);
        try {
          const m = await app.api.addMember(cid, input.value.trim());
          // Now that they share a group, their profile is visible: say so when nobody has ever
          // signed in with that id (a typo adds a stranger-to-be, not a colleague).
          app.people.forget(m.user_id);
          await app.people.lookup([m.user_id]);
          const who = app.people.get(m.user_id);
          render(status, who && who.signed_in
            ? [app.people.person(m.user_id), ' is a member']
            : `${m.user_id} was added, but nobody has signed in with that id yet. Check it, or send an invite link instead.`);
          input.value = '';
        } catch (err) {
          render(status, h('span', { class: 'form-error' }, err.message));
        }
      },
    },
    h('label', { for: 'add-member', class: 'sr-only' }, 'User id to add'),
    input,
    h('button', { type: 'submit', class: 'primary' }, 'Add'),
    status));
}
