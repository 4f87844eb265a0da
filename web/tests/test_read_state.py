"""Read state in the web client (issue #26): the group list ordered by activity with previews and
unread badges that update live; a group opens at the first unread message under a "New messages"
divider, on any device, and what the reader sees is marked read; the tab's title counts what is
unread; a desktop notification, with permission, while the tab is hidden.
"""

import os

from selenium.webdriver.common.by import By

from conftest import accessibility_problems
from test_browser import (assert_not_reloaded, before_load, css, item_with_text, live_state,
                          mark_page, open_group, send_text, sign_in, wait)


def fresh_user(name):
    """A user no other test has touched, so their groups and totals are this test's alone."""
    return f"{name}-{os.urandom(3).hex()}"


def new_group(stack, owner, title, members):
    status, group = stack.call(owner, "POST", "/conversations", {"title": title, "members": members})
    assert status == 201, group
    return group["conversation_id"]


def listed(browser):
    """The group list as shown, in order: (title, preview, badge or '')."""
    return browser.driver.execute_script("""
        return [...document.querySelectorAll('.group-list > li[data-cid]')].map(li => [
          li.querySelector('.group-title').textContent,
          li.querySelector('.group-preview').textContent,
          li.querySelector('.unread-badge [aria-hidden]')?.textContent || '']);""")


def details(stack, user, cid):
    status, d = stack.call(user, "GET", f"/conversations/{cid}")
    assert status == 200, d
    return d


def title(browser):
    return browser.driver.execute_script("return document.title")


def test_the_group_list_orders_by_activity_with_previews_and_live_badges(stack, browsers):
    owner, reader = fresh_user("olga"), fresh_user("rita")
    alpha = new_group(stack, owner, "Alpha", [reader])
    beta = new_group(stack, owner, "Beta", [reader])
    new_group(stack, owner, "Gamma", [reader])
    send_text(stack, owner, alpha, "alpha news\n\nwith   spaces")

    rita = browsers()
    sign_in(rita, stack, reader)
    live_state(rita, "live")
    # Most recent activity first; the last entry as a line; what is unread as a badge (the
    # group's creation counts: it is news to the members).
    wait(rita, lambda _: len(listed(rita)) == 3)
    assert listed(rita) == [
        ["Alpha", f"{owner}: alpha news with spaces", "2"],
        ["Gamma", f"{owner} created the group", "1"],
        ["Beta", f"{owner} created the group", "1"],
    ]
    assert title(rita) == "(4) GroupShare"
    assert accessibility_problems(rita) == []

    # A message in Beta: Beta goes to the top with its preview and badge, without a reload.
    mark_page(rita)
    send_text(stack, owner, beta, "beta news")
    wait(rita, lambda _: listed(rita)[0] == ["Beta", f"{owner}: beta news", "2"])
    assert [row[0] for row in listed(rita)] == ["Beta", "Alpha", "Gamma"]
    wait(rita, lambda _: title(rita) == "(5) GroupShare")

    # Rita reads Beta on another device: the badge goes here too (a read frame), and the title.
    status, state = stack.call(reader, "PUT", f"/conversations/{beta}/read", {"seq": 2})
    assert status == 200 and state["unread_count"] == 0, state
    wait(rita, lambda _: listed(rita)[0] == ["Beta", f"{owner}: beta news", ""])
    wait(rita, lambda _: title(rita) == "(3) GroupShare")
    # A recall leaves nothing of the message in the list: the announcement is the preview.
    recalled = send_text(stack, owner, alpha, "a secret")
    wait(rita, lambda _: listed(rita)[0][1] == f"{owner}: a secret")
    status, _ = stack.call(owner, "DELETE", f"/conversations/{alpha}/messages/{recalled['seq']}")
    assert status == 200
    wait(rita, lambda _: listed(rita)[0][1] == f"{owner} recalled a message")
    assert "a secret" not in rita.driver.find_element(By.CSS_SELECTOR, ".group-list").text
    assert_not_reloaded(rita)

    # The list as the API has it, after all that, is what the page shows.
    status, page = stack.call(reader, "GET", "/conversations")
    assert [(c["title"], c["unread_count"]) for c in page["conversations"]] == [
        (row[0], int(row[2] or 0)) for row in listed(rita)]


def history_texts_in_view(browser):
    """The texts of the messages at least partly inside the history box, in order."""
    return browser.driver.execute_script("""
        const box = document.querySelector('.scroller').getBoundingClientRect();
        return [...document.querySelectorAll('.history > li[data-seq]')]
          .filter(li => { const r = li.getBoundingClientRect(); return r.bottom > box.top && r.top < box.bottom; })
          .map(li => li.querySelector('.text')?.textContent || '');""")


def divider_follows(browser):
    """The seq of the message right after the "New messages" divider, and whether the divider
    is inside the history box's view."""
    return browser.driver.execute_script("""
        const d = document.querySelector('.history > li.unread-divider');
        if (!d) return null;
        let next = d.nextElementSibling;
        while (next && !next.dataset.seq) next = next.nextElementSibling;
        const box = document.querySelector('.scroller').getBoundingClientRect();
        const r = d.getBoundingClientRect();
        return [Number(next.dataset.seq), r.top >= box.top - 1 && r.bottom <= box.bottom + 1];""")


def test_a_group_opens_at_the_first_unread_on_any_device_and_marks_what_is_seen(stack, browsers):
    owner, reader = fresh_user("olga"), fresh_user("sam")
    cid = new_group(stack, owner, "Long read", [reader])
    seqs = [send_text(stack, owner, cid, f"message {i}")["seq"] for i in range(1, 81)]
    # Sam read up to message 30 somewhere else.
    status, _ = stack.call(reader, "PUT", f"/conversations/{cid}/read", {"seq": seqs[29]})
    assert status == 200

    phone = browsers(1280, 700)
    sign_in(phone, stack, reader)
    open_group(phone, "Long read")
    css(phone, ".history > li.unread-divider")
    # The divider is right above message 31, in view at the top; what is after it is below.
    wait(phone, lambda _: divider_follows(phone) == [seqs[30], True])
    in_view = history_texts_in_view(phone)
    assert "message 31" in in_view and "message 80" not in in_view, in_view
    assert accessibility_problems(phone) == []
    # What is on screen counts as read (on the server too), and nothing further down.
    wait(phone, lambda _: details(stack, reader, cid)["read_seq"] >= seqs[31], seconds=10)
    seen = details(stack, reader, cid)["read_seq"]
    assert seen < seqs[-1], "the newest message is not in view yet"

    # A second device opens the same group where the first one left off.
    laptop = browsers(1280, 700)
    sign_in(laptop, stack, reader)
    open_group(laptop, "Long read")
    wait(laptop, lambda _: divider_follows(laptop) is not None and divider_follows(laptop)[0] == seen + 1)

    # Reading to the end on the phone: everything is read, the laptop's list badge follows.
    phone.driver.execute_script("const s = document.querySelector('.scroller'); s.scrollTop = s.scrollHeight")
    wait(phone, lambda _: details(stack, reader, cid)["unread_count"] == 0, seconds=10)
    laptop.driver.get(f"{stack.api}/#/")
    wait(laptop, lambda _: listed(laptop) and listed(laptop)[0][2] == "")
    # And a group with nothing unread opens at the newest message, with no divider.
    open_group(laptop, "Long read")
    wait(laptop, lambda _: "message 80" in history_texts_in_view(laptop))
    assert laptop.driver.find_elements(By.CSS_SELECTOR, ".history > li.unread-divider") == []


# Before the page's scripts: the tab can be "hidden" on demand (window.__hidden), and desktop
# notifications are recorded (window.__notes) instead of shown.
HIDDEN_AND_NOTIFIED = """
(() => {
  window.__hidden = false;
  Object.defineProperty(Document.prototype, 'hidden', { configurable: true, get: () => window.__hidden });
  Object.defineProperty(Document.prototype, 'visibilityState', {
    configurable: true, get: () => (window.__hidden ? 'hidden' : 'visible') });
  window.__notes = [];
  const Real = window.Notification;
  class Recorded {
    constructor(title, options) { window.__notes.push({ title, body: options && options.body }); }
    static get permission() { return Real.permission; }
    static requestPermission() { return Real.requestPermission(); }
    close() {}
  }
  window.Notification = Recorded;
})();
"""


def set_hidden(browser, hidden):
    browser.driver.execute_script(
        "window.__hidden = arguments[0]; document.dispatchEvent(new Event('visibilitychange'))", hidden)


def notes(browser):
    return browser.driver.execute_script("return window.__notes")


def test_hidden_tab_notifies_with_permission_and_the_title_counts_unread(stack, browsers):
    owner, reader = fresh_user("olga"), fresh_user("tess")
    cid = new_group(stack, owner, "Notify me", [reader])

    # Without permission asked yet, the list offers to turn notifications on.
    asking = browsers()
    sign_in(asking, stack, reader)
    offer = css(asking, ".notify-offer button")
    assert offer.text == "Turn on notifications"

    tess = browsers()
    tess.driver.execute_cdp_cmd("Browser.grantPermissions", {"origin": stack.api, "permissions": ["notifications"]})
    before_load(tess, HIDDEN_AND_NOTIFIED)
    sign_in(tess, stack, reader)
    live_state(tess, "live")
    wait(tess, lambda _: listed(tess) == [["Notify me", f"{owner} created the group", "1"]])
    assert tess.driver.find_elements(By.CSS_SELECTOR, ".notify-offer") == []
    assert title(tess) == "(1) GroupShare"

    # Shown: no notification, the title counts.
    send_text(stack, owner, cid, "while you look")
    wait(tess, lambda _: title(tess) == "(2) GroupShare")
    # Hidden: a notification for a message and for a file, none for the reader's own.
    set_hidden(tess, True)
    send_text(stack, owner, cid, "while you were away")
    wait(tess, lambda _: len(notes(tess)) == 1)
    assert notes(tess) == [{"title": "Notify me", "body": f"{owner}: while you were away"}]
    send_text(stack, reader, cid, "my own")
    wait(tess, lambda _: listed(tess)[0][1] == "You: my own")
    assert len(notes(tess)) == 1
    wait(tess, lambda _: title(tess) == "GroupShare")  # her own message read it all

    # In the open group, hidden: nothing counts as read until the tab is shown again.
    set_hidden(tess, False)
    open_group(tess, "Notify me")
    set_hidden(tess, True)
    send_text(stack, owner, cid, "arrives hidden")
    item_with_text(tess, "arrives hidden")
    wait(tess, lambda _: len(notes(tess)) == 2)
    # Two frames later its view has reported what is in view (it is, at the bottom): still unread.
    tess.driver.execute_async_script(
        "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => done()))")
    assert title(tess) == "(1) GroupShare"
    assert details(stack, reader, cid)["unread_count"] == 1
    set_hidden(tess, False)
    wait(tess, lambda _: title(tess) == "GroupShare")
    wait(tess, lambda _: details(stack, reader, cid)["unread_count"] == 0, seconds=10)
