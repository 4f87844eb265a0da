// People's names. The API names people by user id (a token's `sub`: on Cognito an opaque
// UUID); `GET /users?ids=` turns up to 100 ids into display names in one call, for the people
// the caller shares a group with. Screens put `person(id)` wherever someone is named: it shows
// what is known now and is filled in when the batch for the screenful answers, so a page of
// history costs one lookup, not one per message. The id stays one hover away (`title`).

import { h } from './dom.js';
import { initials } from './format.js';

const MAX_IDS = 100;

export function createPeople(api) {
  /** id → {display_name, signed_in, email?}, or null: not visible to the caller (or unknown). */
  const known = new Map();
  /** id → the lookup that will answer for it. */
  const pending = new Map();
  const wanted = new Set();
  let flushing = null;

  function label(id) {
    const p = known.get(id);
    return (p && p.display_name) || id;
  }

  function paintEl(el) {
    const text = label(el.dataset.user);
    if (el.classList.contains('avatar')) el.textContent = initials(text);
    else el.textContent = el.dataset.you ? `${text} (you)` : text;
  }

  /** Repaints every mention of `id` on screen (after a rename). */
  function paint(id) {
    for (const el of document.querySelectorAll('.person[data-user], .avatar[data-user]')) {
      if (el.dataset.user === id) paintEl(el);
    }
  }

  async function flush() {
    // Let the screen that asked finish asking (one batch per render, not per element).
    await Promise.resolve();
    const ids = [...wanted];
    wanted.clear();
    flushing = null;
    for (let i = 0; i < ids.length; i += MAX_IDS) {
      const batch = ids.slice(i, i + MAX_IDS);
      try {
        const answer = await api.users(batch);
        for (const id of batch) known.set(id, null);
        for (const u of answer.users) known.set(u.user_id, u);
      } catch {
        // Names are a nicety: on failure the ids stay, and a later screen asks again.
      }
      batch.forEach((id) => pending.delete(id));
    }
  }

  /** Asks for the names of `ids` not yet known; resolves once all of them are answered. */
  function lookup(ids) {
    const fresh = ids.filter((id) => id && !known.has(id) && !pending.has(id));
    if (fresh.length) {
      fresh.forEach((id) => wanted.add(id));
      if (!flushing) flushing = flush();
      fresh.forEach((id) => pending.set(id, flushing));
    }
    return Promise.all(ids.map((id) => pending.get(id)).filter(Boolean));
  }

  /** An element naming `id`, which paints itself again once its name is known. */
  function named(el) {
    const id = el.dataset.user;
    if (!known.has(id)) lookup([id]).then(() => paintEl(el));
    return el;
  }

  return {
    label,
    lookup,
    /** What the API said of `id` (null: not visible; undefined: not asked yet). */
    get: (id) => known.get(id),
    /** Asks again next time (someone just joined a group with the caller: now visible). */
    forget(id) {
      if (!pending.has(id)) known.delete(id);
    },
    /** Learned elsewhere (the caller's own profile after `PUT /me`). */
    set(id, profile) {
      known.set(id, profile);
      paint(id);
    },
    /** A name for `id` that fills itself in; `you` adds " (you)". */
    person(id, { you = false } = {}) {
      const dataset = you ? { user: id, you: '1' } : { user: id };
      const text = label(id);
      return named(h('span', { class: 'person', dataset, title: id }, you ? `${text} (you)` : text));
    },
    avatar(id) {
      return named(h('span', { class: 'avatar', 'aria-hidden': 'true', dataset: { user: id } }, initials(label(id))));
    },
  };
}
