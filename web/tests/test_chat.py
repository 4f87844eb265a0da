"""The messages tab as a chat window (issue #25): newest at the bottom with the composer below,
older pages arriving above without moving what is in view, a "new messages" button while the
reader is further up, a heading for each day, and the exact time for the mouse and the keyboard.
"""

import datetime

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from conftest import accessibility_problems
from test_browser import (SLOW_FILE_INFO, before_load, css, history_count, item_with_text,
                          live_state, open_group, override_config, read_everything, send_text,
                          sign_in, upload_via_api, wait)

# Where the history box stands, in one read: its scroll position and size, where the composer
# is, and whether the page itself scrolls (it must not: only the history does).
GEOMETRY = """
const s = document.querySelector('.scroller'), c = document.querySelector('form.composer');
const d = document.documentElement;
return { top: s.scrollTop, height: s.scrollHeight, client: s.clientHeight,
         fromBottom: s.scrollHeight - s.scrollTop - s.clientHeight,
         boxBottom: s.getBoundingClientRect().bottom,
         composerTop: c.getBoundingClientRect().top, composerBottom: c.getBoundingClientRect().bottom,
         viewport: innerHeight, pageScrolls: d.scrollHeight > d.clientHeight };
"""


def geometry(browser):
    return browser.driver.execute_script(GEOMETRY)


def message_top(browser, text):
    """Where the message `text` is on screen now (px from the viewport's top)."""
    return browser.driver.execute_script(
        "return [...document.querySelectorAll('.history .text')].find(p => p.textContent === arguments[0])"
        "?.closest('li').getBoundingClientRect().top", text)


def new_group(stack, title, members=("bob",)):
    status, group = stack.call("alice", "POST", "/conversations", {"title": title, "members": list(members)})
    assert status == 201, group
    return group["conversation_id"]


def test_newest_at_the_bottom_and_older_pages_arrive_without_moving_the_view(stack, browsers):
    cid = new_group(stack, "Anchor test")
    # 70 messages after the group's creation, a file among the older ones (its card's file
    # info comes in a second request, made slow below).
    for i in range(1, 71):
        if i == 35:
            upload_via_api(stack, "bob", cid, "older-file.txt", b"from an older page")
        else:
            send_text(stack, "bob", cid, f"message {i}")
    read_everything(stack, "alice", cid)
    alice = browsers(1280, 900)
    before_load(alice, SLOW_FILE_INFO % 1500)
    sign_in(alice, stack, "alice")
    open_group(alice, "Anchor test")
    wait(alice, lambda _: history_count(alice) == 30)

    # The newest message is the last one, at the bottom, in view; the composer below it, on
    # screen; the page does not scroll, the history does.
    texts = [e.text for e in alice.driver.find_elements(By.CSS_SELECTOR, ".history .text")]
    assert texts[-1] == "message 70", texts[-3:]
    g = geometry(alice)
    assert g["fromBottom"] <= 1 and g["height"] > g["client"], g
    assert g["boxBottom"] <= g["composerTop"] and g["composerBottom"] <= g["viewport"], g
    assert not g["pageScrolls"], g
    # A screenful does not reach the top: no older page was asked for yet.
    assert alice.driver.execute_script(
        "return performance.getEntriesByType('resource').filter(e => e.name.includes('before=')).length") == 0

    # The reader scrolls to the top: the oldest message loaded is where they see it, and stays
    # exactly there while the older page and its file info arrive above it.
    oldest_loaded = alice.driver.find_elements(By.CSS_SELECTOR, ".history .text")[0].text
    assert oldest_loaded == "message 41"
    before = alice.driver.execute_script(
        "const s = document.querySelector('.scroller'); s.scrollTop = 0;"
        "return [...document.querySelectorAll('.history .text')][0].closest('li').getBoundingClientRect().top")
    wait(alice, lambda _: history_count(alice) >= 60)
    assert abs(message_top(alice, oldest_loaded) - before) <= 1, (message_top(alice, oldest_loaded), before)
    assert geometry(alice)["top"] > 0
    css(alice, ".history .file-card .status")  # the older page's file info, late, is in too
    assert abs(message_top(alice, oldest_loaded) - before) <= 1, (message_top(alice, oldest_loaded), before)


def test_a_new_message_while_scrolled_up_shows_a_button_to_the_newest(stack, browsers):
    cid = new_group(stack, "Pill test")
    for i in range(1, 41):
        send_text(stack, "bob", cid, f"message {i}")
    alice = browsers(1280, 900)
    sign_in(alice, stack, "alice")
    open_group(alice, "Pill test")
    live_state(alice, "live")
    pill = alice.driver.find_element(By.CSS_SELECTOR, "button.new-messages")
    assert not pill.is_displayed()

    # Up a little (reading, well away from the top where older pages load).
    up = alice.driver.execute_script(
        "const s = document.querySelector('.scroller'); s.scrollTop -= 300; return s.scrollTop")
    send_text(stack, "bob", cid, "while you were reading")
    item_with_text(alice, "while you were reading", seconds=10)
    wait(alice, lambda _: pill.is_displayed())
    assert pill.text.startswith("1 new message"), pill.text
    assert accessibility_problems(alice) == []
    # Nothing moved under the reader; the new message is below the view.
    g = geometry(alice)
    assert abs(g["top"] - up) <= 1, (g, up)
    assert message_top(alice, "while you were reading") >= g["boxBottom"]

    # A second one counts up; the button takes the reader to the newest and goes.
    send_text(stack, "bob", cid, "and another")
    wait(alice, lambda _: pill.text.startswith("2 new messages"))
    pill.click()
    wait(alice, lambda _: geometry(alice)["fromBottom"] <= 1 and not pill.is_displayed())
    assert alice.driver.switch_to.active_element.get_attribute("class") == "scroller"
    assert message_top(alice, "and another") < geometry(alice)["boxBottom"]

    # At the bottom, a new message keeps the newest in view, with no button.
    send_text(stack, "bob", cid, "seen as it comes")
    item_with_text(alice, "seen as it comes", seconds=10)
    wait(alice, lambda _: geometry(alice)["fromBottom"] <= 1)
    assert not pill.is_displayed()

    # Scrolled up again: the button comes, and scrolling down to the newest by hand clears it.
    alice.driver.execute_script("document.querySelector('.scroller').scrollTop -= 300")
    send_text(stack, "bob", cid, "one more")
    wait(alice, lambda _: pill.is_displayed(), seconds=10)
    alice.driver.execute_script("const s = document.querySelector('.scroller'); s.scrollTop = s.scrollHeight")
    wait(alice, lambda _: not pill.is_displayed())


# Before the page's scripts: history as if the group were older (messages up to seq 3 sent two
# days ago, 4 and 5 yesterday, the rest now), and older pages held back until
# `__releaseOlder` is set, so the first page can be looked at alone.
OLDER_DAYS = """
(() => {
  const original = window.fetch;
  const DAY = 86400000;
  window.__releaseOlder = false;
  const released = () => new Promise((resolve) => {
    const check = () => (window.__releaseOlder ? resolve() : setTimeout(check, 20));
    check();
  });
  window.fetch = async (url, init = {}) => {
    const u = new URL(String(url), location.href);
    if (!u.pathname.endsWith('/messages') || (init.method || 'GET') !== 'GET') return original(url, init);
    if (u.searchParams.has('before')) await released();
    const response = await original(url, init);
    const page = await response.json();
    for (const m of page.messages) {
      const back = m.seq <= 3 ? 2 : m.seq <= 5 ? 1 : 0;
      m.sent_at = new Date(Date.parse(m.sent_at) - back * DAY).toISOString();
    }
    return new Response(JSON.stringify(page), { status: response.status, headers: { 'content-type': 'application/json' } });
  };
})();
"""


def history_outline(browser):
    """The history as read top to bottom: `# day` for a day's heading, else the message."""
    return browser.driver.execute_script("""
      return [...document.querySelectorAll('.history > li')].map((li) => li.classList.contains('day')
        ? '# ' + li.querySelector('h2').textContent
        : (li.querySelector('.text')?.textContent || 'system'));""")


def test_a_heading_starts_each_day_as_pages_arrive(stack, browsers):
    cid = new_group(stack, "Days test")  # seq 1: the group's creation
    for text in ["two days ago A", "two days ago B", "yesterday A", "yesterday B", "today A", "today B"]:
        send_text(stack, "alice", cid, text)
    read_everything(stack, "bob", cid)
    bob = browsers()
    bob.driver.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "UTC"})
    before_load(bob, OLDER_DAYS)
    override_config(bob, page_size=3)
    sign_in(bob, stack, "bob")
    open_group(bob, "Days test")
    wait(bob, lambda _: history_count(bob) == 3)
    assert history_outline(bob) == ["# Yesterday", "yesterday B", "# Today", "today A", "today B"]

    # The older pages arrive above: yesterday's heading moves up to its first message, and the
    # day before yesterday gets its own, by date.
    bob.driver.execute_script("window.__releaseOlder = true")
    wait(bob, lambda _: history_count(bob) == 7)
    day = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=2)
    label = f"{day:%A}, {day:%B} {day.day}"
    if day.year != datetime.datetime.now(datetime.timezone.utc).year:
        label += f", {day.year}"
    wait(bob, lambda _: history_outline(bob) == [
        f"# {label}", "system", "two days ago A", "two days ago B",
        "# Yesterday", "yesterday A", "yesterday B", "# Today", "today A", "today B"])
    # Headings: the group's h1, then the days' h2s.
    assert [h.tag_name for h in bob.driver.find_elements(By.CSS_SELECTOR, ".history .day > *")] == ["h2"] * 3


def test_the_exact_time_shows_on_hover_and_on_keyboard_focus(stack, browsers):
    cid = new_group(stack, "Time test")
    sent = send_text(stack, "bob", cid, "what time was this?")
    alice = browsers()
    alice.driver.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "UTC"})
    sign_in(alice, stack, "alice")
    open_group(alice, "Time test")
    item = item_with_text(alice, "what time was this?")
    at = datetime.datetime.fromisoformat(sent["sent_at"].replace("Z", "+00:00"))
    exact = f"{at:%b} {at.day}, {at.year}, {at.hour % 12 or 12}:{at:%M} {'AM' if at.hour < 12 else 'PM'}"
    normal = lambda s: s.replace("\u202f", " ")  # noqa: E731 (ICU puts a narrow space before AM/PM)

    # The mouse: the time's title.
    time_el = item.find_element(By.TAG_NAME, "time")
    assert time_el.text == "just now"
    assert normal(time_el.get_attribute("title")) == exact
    exact_el = item.find_element(By.CSS_SELECTOR, ".stamp-exact")
    assert exact_el.size["width"] <= 1  # not shown until asked for

    # The keyboard: from the message box, back to the message's time; the exact time is shown
    # beside it and is part of what a screen reader reads for it.
    css(alice, "#compose").click()
    for _ in range(5):
        alice.driver.switch_to.active_element.send_keys(Keys.SHIFT, Keys.TAB)
        if alice.driver.switch_to.active_element.get_attribute("class") == "stamp":
            break
    focused = alice.driver.switch_to.active_element
    assert focused.get_attribute("class") == "stamp"
    assert focused.find_element(By.XPATH, "./ancestor::li").get_attribute("data-seq") == str(sent["seq"])
    wait(alice, lambda _: exact_el.size["width"] > 50)
    assert normal(exact_el.text) == exact
    assert exact_el.is_displayed()
    assert normal(focused.get_attribute("textContent")) == f"just now, {exact}"


# Before the page's scripts: a message whose text starts with "later:" was sent ten minutes after
# the one before it (what the API answers otherwise: every message here is seconds apart).
LATER = """
(() => {
  const original = window.fetch;
  window.fetch = async (url, init = {}) => {
    const u = new URL(String(url), location.href);
    if (!u.pathname.endsWith('/messages') || (init.method || 'GET') !== 'GET') return original(url, init);
    const response = await original(url, init);
    const page = await response.json();
    for (const m of page.messages) {
      if ((m.text || '').startsWith('later:')) m.sent_at = new Date(Date.parse(m.sent_at) + 600000).toISOString();
    }
    return new Response(JSON.stringify(page), { status: response.status, headers: { 'content-type': 'application/json' } });
  };
})();
"""


def runs(browser):
    """Each message of the history: (text, drawn as the continuation of the one above)."""
    return browser.driver.execute_script("""
      return [...document.querySelectorAll('.history > li.msg:not(.system)')].map((li) =>
        [li.querySelector('.text').textContent, li.classList.contains('continued')]);""")


def test_a_persons_messages_minutes_apart_read_as_one_run(stack, browsers):
    cid = new_group(stack, "Runs test", members=("bob", "carol"))
    for user, text in [("alice", "one"), ("alice", "two"), ("carol", "three"), ("alice", "four"),
                       ("alice", "later: five"), ("alice", "six")]:
        send_text(stack, user, cid, text)
    read_everything(stack, "bob", cid)
    bob = browsers()
    before_load(bob, LATER)
    sign_in(bob, stack, "bob")
    open_group(bob, "Runs test")
    wait(bob, lambda _: len(runs(bob)) == 6)
    assert runs(bob) == [["one", False], ["two", True], ["three", False], ["four", False],
                         ["later: five", False], ["six", True]]
    # The continuation shows no second avatar or name; a screen reader still hears who wrote it.
    two = item_with_text(bob, "two")
    assert not two.find_element(By.CSS_SELECTOR, ".avatar").is_displayed()
    name = two.find_element(By.CSS_SELECTOR, ".msg-head > strong")
    assert name.size["width"] <= 1 and name.get_attribute("textContent") == "Alice"
    assert item_with_text(bob, "one").find_element(By.CSS_SELECTOR, ".avatar").is_displayed()

    # A message pushed in goes on the run it follows.
    send_text(stack, "alice", cid, "seven")
    wait(bob, lambda _: len(runs(bob)) == 7)
    assert runs(bob)[-1] == ["seven", True]
