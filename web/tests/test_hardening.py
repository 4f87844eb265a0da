"""Defects found by a review of the web client: a lost answer that makes a retry
duplicate what it sent, the page's framing by other sites, and names in astral Unicode.
"""

import os
import urllib.request

from selenium.webdriver.common.by import By

from test_browser import LOG_PART_PUTS, before_load, confirm, css, open_group, sign_in, upload_via_api, wait

# Before the page's scripts: the first request matching `window.__loseAnswer` ({method, path
# suffix}) reaches the API and is carried out, but its answer is lost on the way back (a mobile
# network dropping as the response arrives), as the browser reports it: a TypeError.
LOSE_ONE_ANSWER = """
(() => {
  const original = window.fetch;
  window.__loseAnswer = null;
  window.__lost = 0;
  window.fetch = async (url, init = {}) => {
    const lose = window.__loseAnswer;
    const response = await original(url, init);
    if (lose && (init.method || 'GET') === lose.method && new URL(url, location.href).pathname.endsWith(lose.path)) {
      window.__loseAnswer = null;
      window.__lost += 1;
      throw new TypeError('Failed to fetch');
    }
    return response;
  };
})();
"""


def test_a_message_sent_again_after_its_answer_was_lost_is_sent_once(stack, browsers):
    status, group = stack.call("alice", "POST", "/conversations", {"title": "Lost answer", "members": ["bob"]})
    assert status == 201, group
    cid = group["conversation_id"]
    bob = browsers()
    before_load(bob, LOSE_ONE_ANSWER)
    sign_in(bob, stack, "bob")
    open_group(bob, "Lost answer")
    bob.driver.execute_script("window.__loseAnswer = {method: 'POST', path: '/messages'}")
    css(bob, "#compose").send_keys("only once, please")
    bob.driver.find_element(By.CSS_SELECTOR, "form.composer button[type=submit]").click()
    # The page says it could not reach GroupShare and keeps the text: the person sends again.
    wait(bob, lambda d: d.execute_script("return window.__lost") == 1)
    css(bob, "#banner:not([hidden])")
    assert css(bob, "#compose").get_attribute("value") == "only once, please"
    bob.driver.find_element(By.CSS_SELECTOR, "form.composer button[type=submit]").click()
    wait(bob, lambda _: css(bob, "#compose").get_attribute("value") == "")
    status, page = stack.call("alice", "GET", f"/conversations/{cid}/messages?limit=100")
    assert status == 200, page
    sent = [m for m in page["messages"] if m.get("text") == "only once, please"]
    # The retry must carry the first attempt's client_msg_id, so the API answers the message
    # it already stored instead of storing a second one.
    assert len(sent) == 1, [m["seq"] for m in sent]


def test_a_group_created_again_after_its_answer_was_lost_is_created_once(stack, browsers):
    carol = browsers()
    before_load(carol, LOSE_ONE_ANSWER)
    sign_in(carol, stack, "carol")
    css(carol, "#new-title")
    carol.driver.execute_script("window.__loseAnswer = {method: 'POST', path: '/conversations'}")
    css(carol, "#new-title").send_keys("Created once")
    carol.driver.find_element(By.CSS_SELECTOR, "form.create button[type=submit]").click()
    wait(carol, lambda d: d.execute_script("return window.__lost") == 1)
    css(carol, "form.create .form-error:not(:empty)")
    carol.driver.find_element(By.CSS_SELECTOR, "form.create button[type=submit]").click()
    css(carol, ".group-heading h1")
    status, page = stack.call("carol", "GET", "/conversations?limit=100")
    assert status == 200, page
    made = [c for c in page["conversations"] if c["title"] == "Created once"]
    assert len(made) == 1, [c["conversation_id"] for c in made]


def test_other_sites_cannot_frame_the_client(stack):
    # A meta CSP cannot say frame-ancestors (browsers ignore it there): only a response header
    # keeps another site from framing "Join group", "Leave group" or "Delete" under its own page.
    with urllib.request.urlopen(f"{stack.api}/") as response:
        headers = {k.lower(): v for k, v in response.headers.items()}
    csp = headers.get("content-security-policy", "")
    assert "frame-ancestors" in csp or headers.get("x-frame-options", "").upper() in ("DENY", "SAMEORIGIN"), headers


def test_initials_of_a_name_starting_with_an_emoji_are_whole_characters(stack, browsers):
    bob = browsers()
    sign_in(bob, stack, "bob")
    # Code points, not strings: WebDriver cannot even carry half a surrogate pair back.
    result = bob.driver.execute_async_script("""
      const done = arguments[arguments.length - 1];
      import('./format.js').then(({ initials }) => done(
        ['😀 Smith', '𝒜lice 𝒷ob', 'a😀', '👩‍👩‍👧 Family'].map((name) => {
          const s = initials(name);
          return { wellFormed: s.isWellFormed(), text: s.isWellFormed() ? s : [...s].map((c) => c.codePointAt(0).toString(16)).join(' ') };
        })));
    """)
    # Half a surrogate pair is not a character: the avatar would show a replacement box.
    assert all(r["wellFormed"] for r in result), result
    assert [r["text"] for r in result] == ["😀S", "𝒜𝒷", "A😀", "👩‍👩‍👧F"], result


def test_a_group_title_starting_with_an_emoji_keeps_its_avatar_whole(stack, browsers):
    status, group = stack.call("alice", "POST", "/conversations", {"title": "🎉 Party", "members": ["bob"]})
    assert status == 201, group
    bob = browsers()
    sign_in(bob, stack, "bob")
    css(bob, "a.group-link")
    avatar = wait(bob, lambda d: d.execute_script("""
      const link = [...document.querySelectorAll('a.group-link')].find((a) => a.textContent.includes('Party'));
      const s = link && link.querySelector('.group-avatar').textContent;
      return s && { wellFormed: s.isWellFormed(), text: s.isWellFormed() ? s : [...s].map((c) => c.codePointAt(0).toString(16)).join(' ') };
    """))
    assert avatar == {"wellFormed": True, "text": "🎉"}, avatar


# Before the page's scripts: while the tab's sessionStorage says `offline`, requests for new
# tokens fail as a dropped network fails them (counted in `__refused`).
TOKEN_ROUTE_OFFLINE = """
(() => {
  const original = window.fetch;
  window.__refused = 0;
  window.fetch = (url, init) => {
    if (sessionStorage.getItem('offline') && String(url).includes('/local/token')) {
      window.__refused += 1;
      return Promise.reject(new TypeError('Failed to fetch'));
    }
    return original(url, init);
  };
})();
"""


def test_a_renewal_that_cannot_reach_the_network_does_not_sign_the_person_out(stack, browsers):
    bob = browsers()
    before_load(bob, TOKEN_ROUTE_OFFLINE)
    sign_in(bob, stack, "bob")
    # The token has 40 seconds left (a laptop just woke up): the page renews it at once, but
    # the network is not back yet.
    bob.driver.execute_script("""
      const s = JSON.parse(sessionStorage.getItem('groupshare.session'));
      s.expires_at = new Date(Date.now() + 40000).toISOString();
      sessionStorage.setItem('groupshare.session', JSON.stringify(s));
      sessionStorage.setItem('offline', '1');
    """)
    bob.driver.refresh()
    wait(bob, lambda d: d.execute_script("return window.__refused") >= 1)
    # A failed attempt is not a refusal: the token still works for half a minute, so the person
    # stays signed in (and renewal is tried again) rather than being sent to sign in again.
    assert not bob.driver.find_elements(By.ID, "user"), css(bob, "#banner").text
    held = bob.driver.execute_script("return sessionStorage.getItem('groupshare.session')")
    assert held
    # The network is back: the next try renews the token.
    bob.driver.execute_script("sessionStorage.removeItem('offline')")
    wait(bob, lambda d: d.execute_script("return sessionStorage.getItem('groupshare.session')") not in (held, None))
    assert not bob.driver.find_elements(By.ID, "user")


def test_an_invite_link_made_again_after_its_answer_was_lost_is_made_once(stack, browsers):
    status, group = stack.call("alice", "POST", "/conversations", {"title": "Lost invite", "members": []})
    assert status == 201, group
    cid = group["conversation_id"]
    alice = browsers()
    before_load(alice, LOSE_ONE_ANSWER)
    sign_in(alice, stack, "alice", f"#/g/{cid}")
    css(alice, "details.invite summary").click()
    alice.driver.execute_script("window.__loseAnswer = {method: 'POST', path: '/invites'}")
    create = css(alice, "details.invite button[type=submit]")
    create.click()
    wait(alice, lambda d: d.execute_script("return window.__lost") == 1)
    css(alice, "details.invite .form-error")
    create.click()
    wait(alice, lambda _: css(alice, "#invite-link").get_attribute("value"))
    status, page = stack.call("alice", "GET", f"/conversations/{cid}/invites?limit=100")
    assert status == 200, page
    # One link made, not a second active one the owner was never shown.
    assert len(page["invites"]) == 1, [i["code"] for i in page["invites"]]


def page_overflow(browser):
    """How far the page reaches past a phone's screen sideways (0: it fits)."""
    return browser.driver.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth")


def test_long_unbroken_titles_and_names_fit_a_phone(stack, browsers):
    # The longest a title and a display name may be, without a space to break at: another
    # person's input, which must not push the page sideways on a phone.
    title = "Q" * 200
    status, me = stack.call("dave", "PUT", "/me", {"display_name": "D" * 64})
    assert status == 200, me
    status, group = stack.call("dave", "POST", "/conversations", {"title": title, "members": ["erin"]})
    assert status == 201, group
    cid = group["conversation_id"]
    status, _ = stack.call("dave", "POST", f"/conversations/{cid}/messages", {"client_msg_id": "long-1", "text": "hi"})
    assert status == 201
    status, invite = stack.call("dave", "POST", f"/conversations/{cid}/invites", {"client_request_id": "long-invite"})
    assert status == 201, invite
    phone = browsers(width=390, height=844)
    sign_in(phone, stack, "erin")
    css(phone, "a.group-link")
    wide = {}
    wide["group list"] = page_overflow(phone)
    phone.driver.get(f"{stack.api}/#/g/{cid}")
    wait(phone, lambda d: "D" * 64 in d.find_element(By.CSS_SELECTOR, ".history").text)
    wide["messages"] = page_overflow(phone)
    phone.driver.get(f"{stack.api}/#/g/{cid}/members")
    wait(phone, lambda d: "D" * 64 in d.find_element(By.CSS_SELECTOR, ".member-list").text)
    wide["members"] = page_overflow(phone)
    phone.driver.get(f"{stack.api}/#/invite/{invite['code']}")
    css(phone, "#invite-title")
    wide["invite"] = page_overflow(phone)
    assert all(v <= 0 for v in wide.values()), wide


def test_a_long_group_title_on_a_file_card_fits_a_phone(stack, browsers):
    # All files names each file's group ("in …"), and a forwarded copy its source ("Forwarded
    # from …"): titles of up to 200 characters, perhaps without a space.
    status, source = stack.call("frank", "POST", "/conversations", {"title": "W" * 200, "members": []})
    assert status == 201, source
    status, target = stack.call("frank", "POST", "/conversations", {"title": "Target", "members": []})
    assert status == 201, target
    message = upload_via_api(stack, "frank", source["conversation_id"], "notes.txt", b"notes")
    status, forwarded = stack.call("frank", "POST",
                                   f"/conversations/{source['conversation_id']}/files/{message['file']['file_id']}/forward",
                                   {"to_conversation_id": target["conversation_id"], "client_msg_id": "long-forward"})
    assert status == 201, forwarded
    phone = browsers(width=390, height=844)
    sign_in(phone, stack, "frank")
    wide = {}
    phone.driver.get(f"{stack.api}/#/files")
    wait(phone, lambda d: any("W" * 200 in e.text for e in d.find_elements(By.CSS_SELECTOR, ".file-group")))
    wide["all files"] = page_overflow(phone)
    phone.driver.get(f"{stack.api}/#/g/{target['conversation_id']}")
    wait(phone, lambda d: "W" * 200 in d.find_element(By.CSS_SELECTOR, ".forwarded").text)
    wide["forwarded"] = page_overflow(phone)
    assert all(v <= 0 for v in wide.values()), wide


def test_forwarding_to_a_group_with_a_long_title_fits_a_phone(stack, browsers):
    status, source = stack.call("gina", "POST", "/conversations", {"title": "Source", "members": []})
    assert status == 201, source
    status, target = stack.call("gina", "POST", "/conversations", {"title": "Z" * 200, "members": []})
    assert status == 201, target
    upload_via_api(stack, "gina", source["conversation_id"], "notes.txt", b"notes")
    phone = browsers(width=390, height=844)
    sign_in(phone, stack, "gina")
    phone.driver.get(f"{stack.api}/#/g/{source['conversation_id']}/files")
    css(phone, ".file-card button.forward").click()
    choice = css(phone, "input[name=forward-to]")
    # The choice's name stays inside the dialog (past its edge it is off screen, unreadable).
    inside = phone.driver.execute_script("""
      const d = document.querySelector('.forward-dialog').getBoundingClientRect();
      return [...document.querySelectorAll('.forward-groups label')].map((l) => l.getBoundingClientRect().right - d.right);""")
    choice.click()
    css(phone, ".forward-dialog button[type=submit]").click()
    wait(phone, lambda d: "Z" * 200 in d.find_element(By.ID, "banner").text)
    # "Forwarded notes.txt to <title>." in the banner: the page stays a phone's width.
    overflow = page_overflow(phone)
    assert max(inside) <= 0 and overflow <= 0, {"past the dialog": inside, "past the page": overflow}


def test_signing_out_leaves_no_draft_behind(stack, browsers, tmp_path):
    _, limits = stack.call("bob", "GET", "/config")
    bob = browsers()
    sign_in(bob, stack, "bob")
    open_group(bob, "Demo team")
    # A large upload failed after its first part: the device keeps its resume key (the group,
    # the file's name) so that picking the file again resumes it.
    big = tmp_path / "salary review.xlsx"
    big.write_bytes(os.urandom(limits["multipart_threshold_bytes"] + 1024))
    bob.driver.execute_script(LOG_PART_PUTS, True)
    bob.driver.find_element(By.ID, "attach").send_keys(str(big))
    css(bob, ".uploads .upload.failed", seconds=30)
    css(bob, "#compose").send_keys("salary figures, not for the next person at this desk")
    bob.driver.find_element(By.XPATH, "//div[@id='session']//button[text()='Sign out']").click()
    css(bob, "#user")
    # The person chose to sign out (a shared computer): what they were writing and sharing goes
    # with them. (A refused token keeps the draft for the same person's sign-in: test_browser.py.)
    left = bob.driver.execute_script(
        "return Object.keys(sessionStorage).concat(Object.keys(localStorage)).filter((k) => k.startsWith('groupshare.'))")
    assert left == [], left


def press_on_bobs_row_after_he_is_out(stack, browsers, title, user, button, remover):
    """`user` opens the Members tab of a new group with bob, `remover` takes bob out over the
    API meanwhile, then `user` presses `button` on bob's row and confirms. Returns the page and
    the group's id."""
    status, group = stack.call("alice", "POST", "/conversations", {"title": title, "members": ["bob"]})
    assert status == 201, group
    cid = group["conversation_id"]
    page = browsers()
    sign_in(page, stack, user)
    page.driver.get(f"{stack.api}/#/g/{cid}/members")
    row_button = f"//li[@data-user='bob']//button[text()='{button}']"
    pressed = wait(page, lambda d: d.find_element(By.XPATH, row_button))
    browsers.allowed_console.append(" 404 ")
    status, _ = stack.call(remover, "DELETE", f"/conversations/{cid}/members/bob")
    assert status == 204
    pressed.click()
    confirm(page)
    return page, cid


def test_a_removed_member_acting_on_the_members_tab_returns_to_the_list(stack, browsers):
    # Alice removes bob while his Members tab is open; he then acts there (as on the messages
    # tab, his next action should take him back to his groups saying why).
    bob, _ = press_on_bobs_row_after_he_is_out(stack, browsers, "Members tab removal", "bob", "Leave group", "alice")
    said = "li[data-user='bob'] .member-status"
    wait(bob, lambda d: d.current_url.endswith("#/") or d.find_element(By.CSS_SELECTOR, said).text)
    assert bob.driver.current_url.endswith("#/"), bob.driver.find_element(By.CSS_SELECTOR, said).text


def test_removing_a_member_who_already_left_keeps_the_owner_in_the_group(stack, browsers):
    alice, cid = press_on_bobs_row_after_he_is_out(stack, browsers, "Already left", "alice", "Remove", "bob")
    # Bob's 404 is about bob, not about alice's membership: she stays where she is.
    wait(alice, lambda d: d.find_element(By.CSS_SELECTOR, "li[data-user='bob'] .member-status").text)
    assert alice.driver.current_url.endswith(f"#/g/{cid}/members"), alice.driver.current_url
