"""Sharing files in a group from the page (issue #25): several at once, dropped onto the group or
pasted, each cancellable while it goes (single-part uploads too: the request is aborted and the
API drops the pending file) and retried when it failed, to the same file.
"""

import base64
import os

from selenium.webdriver.common.by import By

from conftest import accessibility_problems, free_port
from test_browser import before_load, css, file_card, open_group, png_bytes, sign_in, wait


def new_group(stack, title):
    status, group = stack.call("alice", "POST", "/conversations", {"title": title, "members": ["bob"]})
    assert status == 201, group
    return group["conversation_id"]


def listed_files(stack, cid):
    _, page = stack.call("bob", "GET", f"/conversations/{cid}/files")
    return sorted((f["name"], f["size"]) for f in page["files"])


def file_messages(stack, cid, name):
    _, page = stack.call("bob", "GET", f"/conversations/{cid}/messages")
    return [m for m in page["messages"] if m["kind"] == "file" and m["file"]["name"] == name]


# Drags files (names and texts) over the page, as a file manager does, and drops them on
# `target`: real DragEvents carrying a DataTransfer of Files. Answers whether the page showed
# where to drop and whether it took the drop (preventDefault: the browser would otherwise open
# the file in place of the page).
DROP = """
const [files, target] = arguments;
const data = new DataTransfer();
for (const [name, text] of files) data.items.add(new File([text], name, { type: 'text/plain' }));
const fire = (type) => target.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }));
fire('dragenter');
fire('dragover');
const hinted = !document.querySelector('.drop-hint').hidden;
const taken = !fire('drop');
return [hinted, taken, !document.querySelector('.drop-hint').hidden];
"""


def test_several_files_dropped_or_picked_at_once_are_each_shared(stack, browsers, tmp_path):
    cid = new_group(stack, "Drop test")
    alice = browsers()
    sign_in(alice, stack, "alice")
    open_group(alice, "Drop test")

    dropped = [("drop one.txt", "first dropped"), ("drop two.txt", "second, longer dropped"),
               ("drop three.txt", "3")]
    hinted, taken, still_hinted = alice.driver.execute_script(
        DROP, dropped, alice.driver.find_element(By.CSS_SELECTOR, ".scroller"))
    assert hinted and taken and not still_hinted
    for name, _ in dropped:
        assert "AVAILABLE" in file_card(alice, name, seconds=30).text.upper()

    # The picker takes several files in one go too.
    picked = []
    for i in range(2):
        path = tmp_path / f"picked {i}.bin"
        path.write_bytes(os.urandom(1000 + i))
        picked.append(path)
    alice.driver.find_element(By.ID, "attach").send_keys("\n".join(str(p) for p in picked))
    for path in picked:
        file_card(alice, path.name, seconds=30)

    assert listed_files(stack, cid) == sorted(
        [(name, len(text)) for name, text in dropped] + [(p.name, p.stat().st_size) for p in picked])
    assert not alice.driver.find_elements(By.CSS_SELECTOR, ".uploads .upload")


# A picture on the clipboard (a screenshot) pasted into the message box: a real paste event
# whose clipboardData holds the file, as the browser makes it ("image.png").
PASTE_IMAGE = """
const [b64, target] = arguments;
const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
const data = new DataTransfer();
data.items.add(new File([bytes], 'image.png', { type: 'image/png' }));
return !target.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
"""


def test_an_image_pasted_into_the_message_box_is_shared(stack, browsers):
    cid = new_group(stack, "Paste test")
    alice = browsers()
    sign_in(alice, stack, "alice")
    open_group(alice, "Paste test")
    picture = png_bytes(64, 48, (10, 200, 90))
    compose = css(alice, "#compose")
    compose.click()
    taken = alice.driver.execute_script(PASTE_IMAGE, base64.b64encode(picture).decode(), compose)
    assert taken
    card = wait(alice, lambda d: d.find_elements(
        By.XPATH, "//article[contains(@class,'file-card')][.//*[@class='file-name'][starts-with(text(),'Pasted image ')]]"
                  "[.//span[contains(@class,'status')]]") or False, seconds=30)[0]
    name = card.find_element(By.CSS_SELECTOR, ".file-name").text
    assert name.endswith(".png"), name
    assert listed_files(stack, cid) == [(name, len(picture))]
    assert compose.get_attribute("value") == ""


# Before the page's scripts: the upload tickets the API hands out (their file ids), and each
# XMLHttpRequest that is aborted. With `__refuseNextPost` (a URL where nothing listens), the
# next form post goes there instead (the network failed).
WATCH_UPLOADS = """
(() => {
  window.__tickets = [];
  window.__aborted = 0;
  window.__refuseNextPost = null;
  const original = window.fetch;
  window.fetch = async (url, init = {}) => {
    const response = await original(url, init);
    if (init.method === 'POST' && /\\/uploads$/.test(new URL(String(url), location.href).pathname)) {
      response.clone().json().then((t) => window.__tickets.push(t.file_id));
    }
    return response;
  };
  const open = XMLHttpRequest.prototype.open;
  XMLHttpRequest.prototype.open = function (method, url, ...rest) {
    this.addEventListener('abort', () => { window.__aborted += 1; });
    if (window.__refuseNextPost) {
      url = window.__refuseNextPost;
      window.__refuseNextPost = null;
    }
    return open.call(this, method, url, ...rest);
  };
})();
"""


def tickets(browser):
    return browser.driver.execute_script("return window.__tickets")


def network(browser, upload_bytes_per_second):
    browser.driver.execute_cdp_cmd("Network.enable", {})
    browser.driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1,
        "uploadThroughput": upload_bytes_per_second})


def test_a_single_part_upload_is_cancelled_mid_way_and_dropped_by_the_api(stack, browsers, tmp_path):
    cid = new_group(stack, "Cancel test")
    alice = browsers()
    before_load(alice, WATCH_UPLOADS)
    sign_in(alice, stack, "alice")
    open_group(alice, "Cancel test")
    # A slow uplink: 600 KB take half a minute, so the post is in flight when Cancel is pressed.
    network(alice, 20 * 1024)
    path = tmp_path / "holiday photos.zip"
    path.write_bytes(os.urandom(600 * 1024))
    alice.driver.find_element(By.ID, "attach").send_keys(str(path))
    row = css(alice, ".uploads .upload")
    wait(alice, lambda _: 0 < float(row.find_element(By.TAG_NAME, "progress").get_attribute("value")) < 1, seconds=30)
    [file_id] = tickets(alice)
    cancel = row.find_element(By.CSS_SELECTOR, "button.cancel-upload")
    assert cancel.get_attribute("aria-label") == f"Cancel upload of {path.name}"
    cancel.click()
    network(alice, -1)

    # The request to storage was aborted, the row is gone, the keyboard is back in the message
    # box, and the API dropped the pending file: it can never complete into the group.
    wait(alice, lambda d: d.execute_script("return window.__aborted") == 1)
    wait(alice, lambda d: not d.find_elements(By.CSS_SELECTOR, ".uploads .upload"))
    assert alice.driver.switch_to.active_element.get_attribute("id") == "compose"
    wait(alice, lambda _: stack.call("alice", "GET", f"/conversations/{cid}/uploads/{file_id}")[1].get("status") == "deleted")
    status, body = stack.call("alice", "POST", f"/conversations/{cid}/files/{file_id}/complete")
    assert status == 410, body
    assert listed_files(stack, cid) == [] and file_messages(stack, cid, path.name) == []


def test_a_failed_upload_is_retried_into_the_same_file(stack, browsers, tmp_path):
    browsers.allowed_console.append("ERR_CONNECTION_REFUSED")  # the failure made below
    cid = new_group(stack, "Retry test")
    alice = browsers()
    before_load(alice, WATCH_UPLOADS)
    sign_in(alice, stack, "alice")
    open_group(alice, "Retry test")
    alice.driver.execute_script(f"window.__refuseNextPost = 'http://127.0.0.1:{free_port()}/'")
    path = tmp_path / "minutes.txt"
    payload = os.urandom(20 * 1024)
    path.write_bytes(payload)
    alice.driver.find_element(By.ID, "attach").send_keys(str(path))
    failed = css(alice, ".uploads .upload.failed", seconds=30)
    assert "could not reach storage" in failed.text
    assert accessibility_problems(alice) == []  # the row's Retry and Dismiss are named by file
    failed.find_element(By.CSS_SELECTOR, "button.retry-upload").click()
    assert "AVAILABLE" in file_card(alice, path.name, seconds=30).text.upper()

    # The retry asked for the same upload (same client_msg_id): one file, one message.
    first, second = tickets(alice)
    assert first == second
    assert listed_files(stack, cid) == [(path.name, len(payload))]
    assert len(file_messages(stack, cid, path.name)) == 1
    assert not alice.driver.find_elements(By.CSS_SELECTOR, ".uploads .upload")
