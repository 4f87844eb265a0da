"""Defects found by a security review of the web client (sec-web): loading older history that
failed was asked again at once, forever; a screen that finished loading after the person moved
on (or was signed out) was drawn over the one they were on; a sign-out left the previous
person's full-screen view, Forward dialog and uploads going; a refused token on an invite link
said "Invite link not found" and lost the link.
"""

import os
import time

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC

from test_browser import (REJECT_TOKEN, SLOW_API, before_load, css, file_card, history_count,
                          item_with_text, open_group, png_bytes, read_everything,
                          scroll_history_to_top, send_text, sign_in, sign_in_here, upload_via_api,
                          wait)
from test_uploads import listed_files


def new_group(stack, title, members=("bob",)):
    status, group = stack.call("alice", "POST", "/conversations", {"title": title, "members": list(members)})
    assert status == 201, group
    return group["conversation_id"]


def go(browser, hash_path):
    """To another screen of the same page (a link followed; the page is not loaded again)."""
    browser.driver.execute_script("location.hash = arguments[0]", hash_path)


# Before the page's scripts: requests for older history pages (`before=`) counted in
# `__older`; with `__olderStatus` set they answer that status (a throttled or failing API)
# instead of reaching it, and with `__olderToken` set they carry that token (a refused one).
# The first argument is the API's `max_history_page_limit` as the page sees it (0: as served),
# so a few unread messages are more than the first page holds.
OLDER_PAGES = """
(() => {
  const pageLimit = %d;
  window.__older = 0;
  window.__olderAt = [];
  window.__olderStatus = %d;
  window.__olderToken = %s;
  const original = window.fetch;
  window.fetch = async (url, init = {}) => {
    const u = new URL(String(url), location.href);
    if (pageLimit && u.pathname === '/config') {
      const config = await (await original(url, init)).json();
      return new Response(JSON.stringify({ ...config, max_history_page_limit: pageLimit }),
        { headers: { 'content-type': 'application/json' } });
    }
    if (!u.pathname.endsWith('/messages') || !u.searchParams.has('before')) return original(url, init);
    window.__older += 1;
    window.__olderAt.push(performance.now());
    if (window.__olderStatus) {
      await new Promise((r) => setTimeout(r, 10)); // a round trip, as a real answer takes
      return new Response(JSON.stringify({ error: { code: 'unavailable', message: 'Try again later.' } }),
        { status: window.__olderStatus, headers: { 'content-type': 'application/json' } });
    }
    if (window.__olderToken && init.headers && init.headers.Authorization) {
      init = { ...init, headers: { ...init.headers, Authorization: `Bearer ${window.__olderToken}` } };
    }
    return original(url, init);
  };
})();
"""


def older_requests(browser):
    return browser.driver.execute_script("return window.__older")


# live.js backoffDelay(0): the longest wait before an older page that failed once is asked again.
FIRST_BACKOFF_MS = 1000


def page_timers_run(browser, ms):
    """A readiness barrier: returns once a timer set in the page now for `ms` has fired. The
    page's timers fire in order (HTML: one set later, for as long or longer, fires after), so
    any timer of at most `ms` the page set before now (a back-off's retry) has run by then, and
    what it did at once (a request asked for) with it, however busy the machine."""
    browser.driver.execute_async_script(
        "const done = arguments[arguments.length - 1]; setTimeout(done, arguments[0])", ms)


def test_older_history_that_fails_is_asked_again_with_backoff_not_at_once(stack, browsers):
    cid = new_group(stack, "Backoff test")
    for i in range(40):
        send_text(stack, "alice", cid, f"message {i}")
    read_everything(stack, "bob", cid)
    bob = browsers()
    before_load(bob, OLDER_PAGES % (0, 0, "null"))
    sign_in(bob, stack, "bob")
    open_group(bob, "Backoff test")
    wait(bob, lambda _: history_count(bob) == 30)
    # The API answers 503 (throttled) while the reader is at the top of the history.
    bob.driver.execute_script("window.__olderStatus = 503")
    scroll_history_to_top(bob)
    # Asked again, each time after a back-off (at least half a second, growing), not at once:
    # timers never fire early, so a busy machine only makes the gaps longer.
    wait(bob, lambda _: older_requests(bob) >= 3, seconds=30)
    at = bob.driver.execute_script("return window.__olderAt")
    gaps = [later - earlier for earlier, later in zip(at, at[1:])]
    assert all(gap >= 500 for gap in gaps) and gaps[1] >= 1000, gaps
    assert "Try again later." in css(bob, "#banner:not([hidden])").text
    # The network comes back: asked again at once, and the reader at the top gets the pages.
    bob.driver.execute_script("window.__olderStatus = 0; window.dispatchEvent(new Event('online'))")
    wait(bob, lambda _: history_count(bob) == 41, seconds=10)


def test_catching_up_to_the_first_unread_stops_at_a_404_or_a_refused_token(stack, browsers):
    # More unread than the first page holds (the page sees a limit of 5): older pages follow
    # until the first unread is on screen. Bob was removed meanwhile: they answer 404.
    cid = new_group(stack, "Removed while catching up")
    for i in range(12):
        send_text(stack, "alice", cid, f"unread {i}")
    bob = browsers()
    before_load(bob, OLDER_PAGES % (5, 404, "null"))
    sign_in(bob, stack, "bob")
    go(bob, f"#/g/{cid}")
    wait(bob, lambda d: older_requests(bob) >= 1 and d.current_url.endswith("#/"))
    # The group list is drawn after the group's screen was left (its work stopped): an older
    # page asked again at once would have been asked before; one asked after a back-off, by the
    # time a page timer as long, set now, has fired.
    css(bob, ".group-list")
    page_timers_run(bob, FIRST_BACKOFF_MS)
    assert older_requests(bob) == 1

    # The same with a token the API refuses: the sign-in screen, once, and it stays as typed.
    carol = browsers()
    browsers.allowed_console.append(" 401 ")
    before_load(carol, OLDER_PAGES % (5, 0, "'not-a-token'"))
    status, _ = stack.call("alice", "POST", f"/conversations/{cid}/members", {"user_id": "carol"})
    assert status == 201
    for i in range(12):
        send_text(stack, "alice", cid, f"more unread {i}")
    sign_in(carol, stack, "carol")
    go(carol, f"#/g/{cid}")
    field = css(carol, "#user")
    field.clear()
    field.send_keys("half-typed")
    # An older page asked again (at once, or after a back-off) would be asked by then; its 401
    # would draw the sign-in screen again, so it is counted too.
    page_timers_run(carol, FIRST_BACKOFF_MS)
    assert css(carol, "#user").get_attribute("value") == "half-typed"
    assert older_requests(carol) == 1


# Before the page's scripts: each read (GET) recorded as it is asked (`__reads`), and counted
# in `__settled` once the page has read its answer and what the page does with it at once
# (drawing a screen, asking for the next thing) is done: a task after the answer's body is read,
# so after the page's own continuations.
RECORD_READS = """
(() => {
  window.__reads = [];
  window.__settled = 0;
  const settle = () => setTimeout(() => { window.__settled += 1; });
  const original = window.fetch;
  window.fetch = async (url, init = {}) => {
    if ((init.method || 'GET') !== 'GET') return original(url, init);
    window.__reads.push(new URL(String(url), location.href).pathname);
    let response;
    try {
      response = await original(url, init);
    } catch (e) {
      settle();
      throw e;
    }
    for (const how of ['text', 'json']) {
      const body = response[how].bind(response);
      response[how] = () => body().finally(settle);
    }
    return response;
  };
})();
"""


def reads_settled(browser, path, times):
    """Until `path` has been read `times` times and every read asked so far has settled."""
    return wait(browser, lambda d: d.execute_script(
        "return window.__reads.filter((r) => r === arguments[0]).length >= arguments[1]"
        " && window.__settled === window.__reads.length", path, times))


def test_a_screen_left_while_it_loads_is_never_drawn_and_stops(stack, browsers):
    bob = browsers()
    # Reads of a group answer 1.5 s late (a slow network); each one is recorded as it is asked.
    before_load(bob, SLOW_API % 1500)
    before_load(bob, RECORD_READS)
    sign_in(bob, stack, "bob")
    link = "//a[contains(@class,'group-link')][.//span[@class='group-title'][text()='Demo team']]"
    wait(bob, EC.element_to_be_clickable((By.XPATH, link))).click()
    # Nothing seems to happen, so Bob goes back to his groups.
    go(bob, "#/")
    css(bob, ".group-list")
    # The group's late answer has come and been dealt with: the screen it was for would have
    # been drawn, and its history asked for (and answered) too.
    reads_settled(bob, "/conversations/demo-team", 1)
    assert bob.driver.current_url.endswith("#/")
    assert bob.driver.find_elements(By.CSS_SELECTOR, "#view .group-list")
    assert not bob.driver.find_elements(By.CSS_SELECTOR, "#view .group-head")
    # The group's screen stopped once left: it asked nothing after its header.
    reads = bob.driver.execute_script("return window.__reads")
    assert not [r for r in reads if r.endswith("/messages")], reads

    # Or he signs out meanwhile: the sign-in screen stays.
    wait(bob, EC.element_to_be_clickable((By.XPATH, link))).click()
    bob.driver.find_element(By.XPATH, "//div[@id='session']//button[text()='Sign out']").click()
    css(bob, "#user")
    reads_settled(bob, "/conversations/demo-team", 2)
    assert css(bob, "#user").is_displayed()
    assert not bob.driver.find_elements(By.CSS_SELECTOR, "#view .group-head")


def previews_ready(stack, cid, messages):
    ids = ",".join(m["file"]["file_id"] for m in messages)
    _, batch = stack.call("bob", "GET", f"/conversations/{cid}/files?ids={ids}")
    return all((f.get("preview") or {}).get("status") == "ready" for f in batch["files"])


def open_dialogs(browser):
    return browser.driver.execute_script("return document.querySelectorAll('dialog[open]').length")


def test_a_sign_out_closes_the_full_screen_view_and_the_forward_dialog(stack, browsers):
    browsers.allowed_console.append(" 401 ")
    cid = new_group(stack, "Private pictures")
    picture = upload_via_api(stack, "alice", cid, "private.png", png_bytes(400, 300, (200, 30, 90)), "image/png")
    deadline = time.time() + 30
    while not previews_ready(stack, cid, [picture]):
        assert time.time() < deadline, "the preview was never made"
        time.sleep(0.2)
    bob = browsers()
    before_load(bob, REJECT_TOKEN)
    sign_in(bob, stack, "bob")
    open_group(bob, "Private pictures")

    # The picture full screen; the token is refused at the next request (Download): signed out.
    file_card(bob, "private.png").find_element(By.CSS_SELECTOR, "button.thumb").click()
    css(bob, "dialog.viewer[open] .viewer-stage img")
    download = bob.driver.find_element(By.XPATH, "//dialog[@open]//button[text()='Download']")
    bob.driver.execute_script("window.__rejectToken = true; arguments[0].click()", download)
    css(bob, "#user")
    assert open_dialogs(bob) == 0
    assert not bob.driver.find_elements(By.CSS_SELECTOR, "dialog.viewer")

    # The Forward dialog, listing his groups, likewise.
    bob.driver.execute_script("window.__rejectToken = false")
    sign_in_here(bob, "bob")
    go(bob, f"#/g/{cid}")
    file_card(bob, "private.png").find_element(By.CSS_SELECTOR, "button.forward").click()
    css(bob, "dialog.forward-dialog[open] input[name='forward-to']").click()
    forward = bob.driver.find_element(By.CSS_SELECTOR, "dialog.forward-dialog button[type=submit]")
    bob.driver.execute_script("window.__rejectToken = true; arguments[0].click()", forward)
    css(bob, "#user")
    assert open_dialogs(bob) == 0
    assert not bob.driver.find_elements(By.CSS_SELECTOR, "dialog.forward-dialog")


# Before the page's scripts: files read to be hashed (`hashed`: the first step of every upload,
# taken as it starts), upload tickets asked for (`POST …/uploads`), and form posts to storage,
# each held on the way (a slow uplink: the page sees it in flight) until `__releasePosts()`,
# which answers how many it let go; aborting a held post counts it and ends it as the browser
# does.
HOLD_UPLOADS = """
(() => {
  window.__uploads = { hashed: 0, tickets: 0, posts: 0, aborted: 0 };
  const held = new Set();
  const { arrayBuffer } = Blob.prototype;
  Blob.prototype.arrayBuffer = function () {
    window.__uploads.hashed += 1;
    return arrayBuffer.call(this);
  };
  const original = window.fetch;
  window.fetch = (url, init = {}) => {
    if (init.method === 'POST' && /\\/uploads$/.test(new URL(String(url), location.href).pathname)) window.__uploads.tickets += 1;
    return original(url, init);
  };
  const { send, abort } = XMLHttpRequest.prototype;
  XMLHttpRequest.prototype.send = function (...args) {
    window.__uploads.posts += 1;
    this.__send = () => send.apply(this, args);
    held.add(this);
  };
  XMLHttpRequest.prototype.abort = function () {
    if (!held.delete(this)) return abort.call(this);
    window.__uploads.aborted += 1;
    this.dispatchEvent(new ProgressEvent('abort'));
  };
  window.__releasePosts = () => {
    const released = held.size;
    for (const xhr of held) xhr.__send();
    held.clear();
    return released;
  };
})();
"""


def uploads_counted(browser):
    return browser.driver.execute_script("return window.__uploads")


def test_a_sign_out_stops_uploads_going_and_waiting(stack, browsers, tmp_path):
    cid = new_group(stack, "Uploads at sign-out")
    bob = browsers()
    before_load(bob, HOLD_UPLOADS)
    sign_in(bob, stack, "bob")
    open_group(bob, "Uploads at sign-out")
    # Three uploads go at once (their bytes on the way to storage); the fourth waits its turn.
    paths = []
    for i in range(4):
        path = tmp_path / f"bob's file {i}.bin"
        path.write_bytes(os.urandom(1000 + i))
        paths.append(path)
    bob.driver.find_element(By.ID, "attach").send_keys("\n".join(str(p) for p in paths))
    wait(bob, lambda _: uploads_counted(bob)["posts"] == 3)
    assert uploads_counted(bob) == {"hashed": 3, "tickets": 3, "posts": 3, "aborted": 0}
    assert "Waiting" in bob.driver.find_elements(By.CSS_SELECTOR, ".uploads .upload")[3].text

    # Bob signs out and Alice signs in at the same page (the demo sign-in stays on it); only
    # then would storage have taken the bytes.
    bob.driver.find_element(By.XPATH, "//div[@id='session']//button[text()='Sign out']").click()
    css(bob, "#user")
    sign_in_here(bob, "alice")
    # The posts were aborted at sign-out (at the click), so storage is sent none of Bob's bytes.
    assert bob.driver.execute_script("return window.__releasePosts()") == 0
    # And nothing of Bob's was shared, by him or as Alice: the waiting upload never started. It
    # would have at the click too, as the aborted ones freed their places (its first step,
    # hashing the file, taken at once); and a post that went on would be released above.
    assert uploads_counted(bob) == {"hashed": 3, "tickets": 3, "posts": 3, "aborted": 3}
    assert listed_files(stack, cid) == []
    assert not bob.driver.find_elements(By.CSS_SELECTOR, ".uploads .upload")


def test_a_refused_token_on_an_invite_link_signs_in_again_and_comes_back_to_it(stack, browsers):
    browsers.allowed_console.append(" 401 ")
    cid = new_group(stack, "Invited after a refusal", members=())
    status, invite = stack.call("alice", "POST", f"/conversations/{cid}/invites", {})
    assert status in (200, 201), invite
    code = invite["code"]
    bob = browsers()
    before_load(bob, REJECT_TOKEN)
    sign_in(bob, stack, "bob")
    # The groups and the profile have been read: the next request is the invite's.
    css(bob, ".group-list .group-link")
    wait(bob, lambda d: d.execute_script(
        "return performance.getEntriesByType('resource').some((e) => e.name.endsWith('/me'))"))
    bob.driver.execute_script("window.__rejectToken = true")
    go(bob, f"#/invite/{code}")
    css(bob, "#user")
    assert "not found" not in bob.driver.find_element(By.ID, "view").text
    assert "sign in again" in css(bob, "#banner:not([hidden])").text.lower()
    # Signed in again, the link is where the person is.
    bob.driver.execute_script("window.__rejectToken = false")
    sign_in_here(bob, "bob")
    wait(bob, lambda d: d.current_url.endswith(f"#/invite/{code}"))
    assert css(bob, "#invite-title").text == "Invited after a refusal"

    # Any refused token: back at the page the person was on (here the group, with the draft).
    bob.driver.find_element(By.XPATH, "//button[text()='Join group']").click()
    wait(bob, lambda d: d.current_url.endswith(f"#/g/{cid}"))
    compose = css(bob, "#compose")
    compose.send_keys("joined, and saying hello")
    bob.driver.execute_script("window.__rejectToken = true; arguments[0].form.requestSubmit()", compose)
    css(bob, "#user")
    bob.driver.execute_script("window.__rejectToken = false")
    sign_in_here(bob, "bob")
    wait(bob, lambda d: d.current_url.endswith(f"#/g/{cid}"))
    assert css(bob, "#compose").get_attribute("value") == "joined, and saying hello"
    css(bob, "#compose").send_keys(Keys.ENTER)
    item_with_text(bob, "joined, and saying hello")


def test_an_invite_link_that_cannot_be_read_now_says_why_not_not_found(stack, browsers):
    browsers.allowed_console.extend(["ERR_INTERNET_DISCONNECTED", "WebSocket", "Failed to fetch"])
    cid = new_group(stack, "Invited while offline", members=())
    status, invite = stack.call("alice", "POST", f"/conversations/{cid}/invites", {})
    assert status in (200, 201), invite
    bob = browsers()
    sign_in(bob, stack, "bob")
    css(bob, ".group-list .group-link")
    bob.driver.execute_cdp_cmd("Network.enable", {})
    bob.driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
        "offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    go(bob, f"#/invite/{invite['code']}")
    wait(bob, lambda d: "Could not reach GroupShare" in d.find_element(By.ID, "view").text)
    assert "not found" not in bob.driver.find_element(By.ID, "view").text
    # The link is kept: once online, loading the page again shows the invite.
    bob.driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    bob.driver.refresh()
    assert css(bob, "#invite-title").text == "Invited while offline"
