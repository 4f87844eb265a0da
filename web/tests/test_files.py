"""Finding and forwarding files (issue #27): the search box and type chips of a group's files tab
(a Chinese name among them), the "All files" view across the reader's groups, and Forward from a
file's entry to another group, where the copy says it was forwarded and downloads byte for byte.

Each test has users of its own (fresh ids): what they see across groups is only what the test made.
"""

import os
import urllib.request

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC

from conftest import accessibility_problems
from test_browser import (before_load, css, downloaded, file_card, files_listed, png_bytes,
                          sign_in, upload_via_api, wait)


def fresh_user(prefix):
    return f"{prefix}-{os.urandom(4).hex()}"


def new_group(stack, owner, title, members=()):
    status, group = stack.call(owner, "POST", "/conversations", {"title": title, "members": list(members)})
    assert status == 201, group
    return group["conversation_id"]


def listed_when(browser, names, seconds=15):
    """Waits until the file list shows exactly `names`, in that order."""
    try:
        wait(browser, lambda _: files_listed(browser) == names, seconds)
    except Exception:
        raise AssertionError(f"expected {names}, the list shows {files_listed(browser)}")


def search_box(browser):
    return css(browser, "form.file-search input[type=search]")


def chip(browser, label):
    return wait(browser, EC.element_to_be_clickable(
        (By.XPATH, f"//form[contains(@class,'file-search')]//label[contains(@class,'chip')][text()='{label}']")))


def server_names(stack, user, path):
    status, body = stack.call(user, "GET", path)
    assert status == 200, body
    return [f["name"] for f in body["files"]]


# Holds the answers of one search (`q` as given) until the test releases them: the page's
# request for a query typed earlier then answers after the one for the query typed next. The
# body is read first, so the held answer arrives whole even when the page has aborted it.
HOLD_SEARCH = """
(() => {
  const original = window.fetch;
  window.__held = [];
  window.__heldDone = 0;
  window.fetch = async (url, init) => {
    const u = new URL(String(url), location.href);
    if (!u.pathname.endsWith('/files') || u.searchParams.get('q') !== %s) return original(url, init);
    const response = await original(url, init);
    const body = await response.text();
    await new Promise((release) => window.__held.push(release));
    // Counted after the page has had its turn with the answer (the tasks after this one).
    setTimeout(() => setTimeout(() => { window.__heldDone += 1; }), 0);
    return new Response(body, { status: response.status, headers: response.headers });
  };
})();
"""


def search_group(stack):
    """A group with a Chinese-named report among other files: names that share characters."""
    owner = fresh_user("searcher")
    cid = new_group(stack, owner, "Search test")
    for name, content_type, data in (
        ("报表.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", b"PK sheet"),
        ("季度报告.pdf", "application/pdf", b"%PDF-1.4\n% quarterly\n"),
        ("年度计划.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", b"PK plan"),
        ("photo.png", "image/png", png_bytes(8, 8, (200, 40, 40))),
        ("bundle.zip", "application/zip", b"PK\x03\x04 archive"),
    ):
        upload_via_api(stack, owner, cid, name, data, content_type)
    return owner, cid


def test_chinese_name_search_shows_only_the_match_and_an_older_answer_never_wins(stack, browsers):
    owner, cid = search_group(stack)
    everything = ["bundle.zip", "photo.png", "年度计划.docx", "季度报告.pdf", "报表.xlsx"]
    b = browsers()
    before_load(b, HOLD_SEARCH % '"报"')
    sign_in(b, stack, owner)
    b.driver.get(f"{stack.api}/#/g/{cid}/files")
    listed_when(b, everything)

    # "报" is typed; its answer (two files) is held back. Then "告": "报告" answers first.
    box = search_box(b)
    box.send_keys("报")
    wait(b, lambda d: d.execute_script("return window.__held.length") == 1)
    box.send_keys("告")
    listed_when(b, ["季度报告.pdf"])
    assert server_names(stack, owner, f"/conversations/{cid}/files?q=%E6%8A%A5%E5%91%8A") == ["季度报告.pdf"]

    # The answer to "报" arrives last: it must not replace (or add to) the newer one's.
    b.driver.execute_script("window.__held.forEach((release) => release())")
    wait(b, lambda d: d.execute_script("return window.__heldDone") == 1)
    assert files_listed(b) == ["季度报告.pdf"]
    assert "1 file found" in css(b, ".tab-panel [role=status]").get_attribute("textContent")

    # A file shared while the search is open joins it if the search finds it, and only then.
    upload_via_api(stack, owner, cid, "unrelated.txt", b"no match")
    upload_via_api(stack, owner, cid, "报告草稿.txt", b"draft")
    listed_when(b, ["报告草稿.txt", "季度报告.pdf"])
    assert "unrelated.txt" not in files_listed(b)

    # And it downloads from the search result.
    click_card_button(b, "季度报告.pdf", "download")
    assert downloaded(b, "季度报告.pdf") == b"%PDF-1.4\n% quarterly\n"

    # Clearing the box lists everything again; a name nothing has says so.
    box.send_keys(Keys.CONTROL, "a", Keys.BACKSPACE)
    listed_when(b, ["报告草稿.txt", "unrelated.txt"] + everything)
    # One Latin letter is not searched (the server would refuse it): a hint says why.
    box.send_keys("x")
    wait(b, EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".search-hint"), "at least two letters"))
    box.send_keys(Keys.BACKSPACE, "不存在")
    wait(b, EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".file-list .empty"), "No files match"))


def test_type_chips_filter_the_files_tab_by_kind_with_mouse_and_keyboard(stack, browsers):
    owner, cid = search_group(stack)
    b = browsers()
    sign_in(b, stack, owner)
    b.driver.get(f"{stack.api}/#/g/{cid}/files")
    listed_when(b, ["bundle.zip", "photo.png", "年度计划.docx", "季度报告.pdf", "报表.xlsx"])

    chip(b, "Images").click()
    listed_when(b, ["photo.png"])
    assert server_names(stack, owner, f"/conversations/{cid}/files?type=image") == ["photo.png"]
    chip(b, "Archives").click()
    listed_when(b, ["bundle.zip"])
    # A type and a name together: the documents whose name has "报".
    chip(b, "Documents").click()
    expected = server_names(stack, owner, f"/conversations/{cid}/files?type=document&q=%E6%8A%A5")
    assert "季度报告.pdf" in expected and "photo.png" not in expected
    search_box(b).send_keys("报")
    listed_when(b, expected)

    # The chips are one radio group: arrow keys move between them, and the list follows.
    search_box(b).send_keys(Keys.CONTROL, "a", Keys.BACKSPACE)
    all_types = b.driver.find_element(By.ID, "files-search-type-all")
    b.driver.execute_script("arguments[0].click(); arguments[0].focus()", all_types)
    listed_when(b, ["bundle.zip", "photo.png", "年度计划.docx", "季度报告.pdf", "报表.xlsx"])
    b.driver.switch_to.active_element.send_keys(Keys.ARROW_RIGHT)
    listed_when(b, ["photo.png"])


def card_button(browser, name, button, seconds=15):
    """A button (`download`, `forward`) of the card of `name`, found when it can be clicked: a
    card is drawn again as its file info and preview arrive."""
    file_card(browser, name)
    xpath = (f"//article[contains(@class,'file-card')][.//*[@class='file-name'][text()='{name}']]"
             f"//button[contains(@class,'{button}')]")
    return wait(browser, EC.element_to_be_clickable((By.XPATH, xpath)), seconds)


def click_card_button(browser, name, button, seconds=15):
    for _ in range(5):
        try:
            card_button(browser, name, button, seconds).click()
            return
        except StaleElementReferenceException:
            continue  # drawn again between finding and clicking
    raise AssertionError(f"the {button} button of {name} kept being redrawn")


def test_search_results_page_with_load_more_keeping_the_search(stack, browsers):
    owner = fresh_user("pager")
    cid = new_group(stack, owner, "Paging search")
    # Other files among the oldest: the second page is where a search that lost its filter
    # would show them.
    for i in range(1, 33):
        if i <= 2:
            upload_via_api(stack, owner, cid, f"other-{i}.txt", b"o")
        upload_via_api(stack, owner, cid, f"report-{i:02}.txt", b"r")
    b = browsers()
    sign_in(b, stack, owner)
    b.driver.get(f"{stack.api}/#/g/{cid}/files")
    css(b, ".file-list .file-card")
    search_box(b).send_keys("report")
    newest_first = [f"report-{i:02}.txt" for i in range(32, 0, -1)]
    # One page of results (the unlisted page of all files starts with the same names: the
    # status says the search has answered).
    wait(b, lambda d: d.execute_script(
        "return document.querySelector('.tab-panel [role=status]').textContent") == "30+ files found")
    listed_when(b, newest_first[:30])
    # The next page is of the same search: the two oldest reports, no other file.
    more = wait(b, EC.element_to_be_clickable((By.XPATH, "//button[text()='Load more files']")))
    b.driver.execute_script("arguments[0].click()", more)
    listed_when(b, newest_first)
    wait(b, lambda d: not d.find_element(By.XPATH, "//button[text()='Load more files']").is_displayed())


def open_all_files(browser):
    link = wait(browser, EC.element_to_be_clickable((By.LINK_TEXT, "All files")))
    link.click()
    wait(browser, lambda d: d.current_url.endswith("#/files"))
    css(browser, ".all-files .file-list")


def group_of(browser, name):
    """The group a card of All files names."""
    return file_card(browser, name).find_element(By.CSS_SELECTOR, ".file-group a")


def test_all_files_lists_every_group_newest_first_naming_each_group(stack, browsers):
    reader = fresh_user("reader")
    atlas = new_group(stack, reader, "Atlas")
    borealis = new_group(stack, "alice", "Borealis", members=[reader])
    elsewhere = new_group(stack, "alice", "Not the reader's")
    upload_via_api(stack, reader, atlas, "atlas-notes.txt", b"atlas")
    upload_via_api(stack, "alice", borealis, "会议纪要.txt", b"minutes")
    upload_via_api(stack, "alice", elsewhere, "secret.txt", b"not for the reader")
    upload_via_api(stack, reader, atlas, "atlas-plan.txt", b"plan")

    b = browsers()
    sign_in(b, stack, reader)
    open_all_files(b)
    listed_when(b, ["atlas-plan.txt", "会议纪要.txt", "atlas-notes.txt"])
    assert group_of(b, "atlas-plan.txt").text == "Atlas"
    assert group_of(b, "会议纪要.txt").text == "Borealis"

    # A Chinese-name search across the groups.
    search_box(b).send_keys("纪要")
    listed_when(b, ["会议纪要.txt"])

    # The group's name opens that group.
    group_of(b, "会议纪要.txt").click()
    wait(b, lambda d: d.current_url.endswith(f"#/g/{borealis}"))
    wait(b, EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".group-heading h1"), "Borealis"))


def test_the_full_screen_view_of_all_files_steps_across_groups(stack, browsers):
    reader = fresh_user("viewer")
    red = new_group(stack, reader, "Red group")
    blue = new_group(stack, reader, "Blue group")
    upload_via_api(stack, reader, red, "red.png", png_bytes(400, 300, (200, 0, 0)), "image/png")
    upload_via_api(stack, reader, blue, "blue.png", png_bytes(500, 300, (0, 0, 200)), "image/png")

    b = browsers()
    sign_in(b, stack, reader)
    open_all_files(b)
    listed_when(b, ["blue.png", "red.png"])
    # Each picture's preview is asked for in its own group (the cards follow until it is made).
    click_card_button(b, "blue.png", "thumb", seconds=30)
    css(b, "dialog.viewer[open]")
    wait(b, lambda d: d.execute_script(VIEWER_PICTURE) == ["blue.png", 500, 300], seconds=30)
    b.driver.switch_to.active_element.send_keys(Keys.ARROW_RIGHT)
    wait(b, lambda d: d.execute_script(VIEWER_PICTURE) == ["red.png", 400, 300], seconds=30)


# The full-screen view's picture, once loaded: its name and natural size.
VIEWER_PICTURE = """
const img = document.querySelector('dialog.viewer[open] .viewer-stage img');
return img && img.complete && img.naturalWidth ? [img.alt, img.naturalWidth, img.naturalHeight] : null;
"""


def test_a_removed_members_group_leaves_all_files(stack, browsers):
    reader = fresh_user("removed")
    kept = new_group(stack, "alice", "Kept group", members=[reader])
    lost = new_group(stack, "alice", "Lost group", members=[reader])
    upload_via_api(stack, "alice", kept, "kept.txt", b"kept")
    upload_via_api(stack, "alice", lost, "lost.txt", b"lost")

    b = browsers()
    sign_in(b, stack, reader)
    open_all_files(b)
    listed_when(b, ["lost.txt", "kept.txt"])

    status, _ = stack.call("alice", "DELETE", f"/conversations/{lost}/members/{reader}")
    assert status == 204
    # Back to the group list and into All files again: the lost group's file is not there, in
    # the list or in a search for it.
    b.driver.find_element(By.CSS_SELECTOR, ".all-files .back").click()
    wait(b, lambda d: "Lost group" not in d.find_element(By.TAG_NAME, "main").text)
    open_all_files(b)
    listed_when(b, ["kept.txt"])
    search_box(b).send_keys("lost")
    wait(b, EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".file-list .empty"), "No files match"))


def forward_dialog(browser):
    return css(browser, "dialog.forward-dialog[open]")


def focused_label(browser):
    return browser.driver.execute_script("return document.activeElement?.getAttribute('aria-label')")


FOCUS_FORWARD = """
[...document.querySelectorAll('.file-card')]
  .find((c) => c.querySelector('.file-name')?.textContent === arguments[0])
  .querySelector('button.forward').focus();
"""


def forwarded_mark(browser, name):
    """The text of a card's "forwarded" line and its link's address (null when none), read at once."""
    return browser.driver.execute_script("""
        const card = [...document.querySelectorAll('.file-card')]
          .find((c) => c.querySelector('.file-name')?.textContent === arguments[0]);
        const mark = card?.querySelector('.forwarded');
        return mark ? [mark.textContent, mark.querySelector('a')?.href || null] : [null, null];""", name)


def test_forward_to_another_group_shows_the_copy_as_forwarded_and_it_downloads(stack, browsers):
    sender = fresh_user("forwarder")
    other = fresh_user("target-only")
    source = new_group(stack, sender, "Source group")
    target = new_group(stack, sender, "Target group", members=[other])
    payload = os.urandom(40 * 1024)
    upload_via_api(stack, sender, source, "forward-me.bin", payload, "application/octet-stream")

    b = browsers()
    sign_in(b, stack, sender)
    b.driver.get(f"{stack.api}/#/g/{source}/files")
    source_file = file_card(b, "forward-me.bin").get_attribute("data-file-id")
    # Keyboard only: Forward, pick the group with the space key, Enter.
    card_button(b, "forward-me.bin", "forward")
    b.driver.execute_script(FOCUS_FORWARD, "forward-me.bin")
    b.driver.switch_to.active_element.send_keys(Keys.ENTER)
    dialog = forward_dialog(b)
    assert "Forward forward-me.bin" in dialog.find_element(By.CSS_SELECTOR, "h2").text
    wait(b, lambda _: dialog.find_elements(By.CSS_SELECTOR, "input[name=forward-to]"))
    choices = [label.text for label in dialog.find_elements(By.CSS_SELECTOR, ".forward-groups label")]
    assert choices == ["Target group"], choices  # the reader's other groups, not this one
    b.driver.switch_to.active_element.send_keys(Keys.SPACE)
    b.driver.switch_to.active_element.send_keys(Keys.ENTER)
    wait(b, EC.text_to_be_present_in_element((By.ID, "banner"), "Forwarded forward-me.bin to Target group"))
    wait(b, lambda _: not b.driver.find_elements(By.CSS_SELECTOR, "dialog.forward-dialog"))
    assert focused_label(b) == "Forward forward-me.bin"  # focus back where it was

    # The target group: a new file, marked as forwarded from the source group (the reader is in
    # both), and its bytes are the source's.
    b.driver.find_element(By.CSS_SELECTOR, "#banner a").click()
    wait(b, lambda d: d.current_url.endswith(f"#/g/{target}/files"))
    wait(b, EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".group-heading h1"), "Target group"))
    copy_file = file_card(b, "forward-me.bin").get_attribute("data-file-id")
    assert copy_file != source_file
    wait(b, lambda _: forwarded_mark(b, "forward-me.bin")[0] == "↪ Forwarded from Source group")
    assert forwarded_mark(b, "forward-me.bin")[1].endswith(f"#/g/{source}")
    click_card_button(b, "forward-me.bin", "download")
    assert downloaded(b, "forward-me.bin") == payload
    status, link = stack.call(sender, "GET", f"/conversations/{target}/files/{copy_file}/download")
    assert status == 200, link
    with urllib.request.urlopen(link["url"]) as response:
        assert response.read() == payload
    # The history says so too.
    b.driver.get(f"{stack.api}/#/g/{target}")
    css(b, ".history .file-card")
    wait(b, lambda _: forwarded_mark(b, "forward-me.bin")[0] == "↪ Forwarded from Source group")

    # A member of the target only: "Forwarded", without the group they are not in.
    o = browsers()
    sign_in(o, stack, other)
    o.driver.get(f"{stack.api}/#/g/{target}/files")
    file_card(o, "forward-me.bin")
    wait(o, lambda _: forwarded_mark(o, "forward-me.bin")[0] == "↪ Forwarded")
    assert "Source" not in file_card(o, "forward-me.bin").text
    click_card_button(o, "forward-me.bin", "download")
    assert downloaded(o, "forward-me.bin") == payload


# The first forward's answer is lost on the way back (the server made the copy).
LOSE_FIRST_FORWARD = """
(() => {
  const original = window.fetch;
  window.__forwards = 0;
  window.fetch = async (url, init) => {
    if (!String(url).endsWith('/forward')) return original(url, init);
    window.__forwards += 1;
    const response = await original(url, init);
    if (window.__forwards === 1) throw new TypeError('Failed to fetch');
    return response;
  };
})();
"""


def test_a_forward_retried_after_a_lost_answer_makes_one_copy(stack, browsers):
    sender = fresh_user("retrier")
    source = new_group(stack, sender, "Retry source")
    target = new_group(stack, sender, "Retry target")
    upload_via_api(stack, sender, source, "once.txt", b"forwarded once")

    b = browsers()
    before_load(b, LOSE_FIRST_FORWARD)
    sign_in(b, stack, sender)
    b.driver.get(f"{stack.api}/#/g/{source}/files")
    click_card_button(b, "once.txt", "forward")
    dialog = forward_dialog(b)
    wait(b, EC.element_to_be_clickable((By.CSS_SELECTOR, ".forward-groups label"))).click()
    submit = dialog.find_element(By.CSS_SELECTOR, "button[type=submit]")
    submit.click()
    wait(b, EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".forward-dialog [role=alert]"), "Could not reach"))
    wait(b, EC.element_to_be_clickable((By.CSS_SELECTOR, ".forward-dialog button[type=submit]"))).click()
    wait(b, EC.text_to_be_present_in_element((By.ID, "banner"), "Forwarded once.txt to Retry target"))
    assert b.driver.execute_script("return window.__forwards") == 2
    assert server_names(stack, sender, f"/conversations/{target}/files") == ["once.txt"]


def test_search_all_files_and_forward_pass_axe(stack, browsers):
    reader = fresh_user("axe")
    one = new_group(stack, reader, "Axe one")
    new_group(stack, reader, "Axe two")
    upload_via_api(stack, reader, one, "季度报告.pdf", b"%PDF-1.4\n", "application/pdf")
    upload_via_api(stack, reader, one, "photo.png", png_bytes(8, 8, (0, 90, 200)), "image/png")
    for width, height in ((1280, 900), (390, 844)):
        b = browsers(width, height)
        screens = []
        sign_in(b, stack, reader)
        open_all_files(b)
        listed_when(b, ["photo.png", "季度报告.pdf"])
        screens.append(("all files", accessibility_problems(b)))
        b.driver.get(f"{stack.api}/#/g/{one}/files")
        css(b, ".group .tab-panel form.file-search")
        listed_when(b, ["photo.png", "季度报告.pdf"])
        search_box(b).send_keys("报告")
        chip(b, "Documents").click()
        listed_when(b, ["季度报告.pdf"])
        screens.append(("files tab, searched", accessibility_problems(b)))
        click_card_button(b, "季度报告.pdf", "forward")
        wait(b, lambda d: d.find_elements(By.CSS_SELECTOR, ".forward-dialog .forward-groups input"))
        screens.append(("forward dialog", accessibility_problems(b)))
        found = [(name, problems) for name, problems in screens if problems]
        assert not found, f"{width}px: {found}"
