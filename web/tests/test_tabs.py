"""One sign-in across a browser's tabs (web/tabs.js). With OpenID Connect, the tabs of one
browser share the session over a BroadcastChannel: a duplicated tab renews together with its
original although the provider rotates refresh tokens (and revokes the whole sign-in when a used
one comes back), a new tab is signed in by its peers, and signing out in one tab signs out the
others. With the local stack's demo sign-in, tabs stay independent: alice in one, bob in another.

Renewal is forced as in test_sign_in.py: the local provider's ID tokens live OIDC_TOKEN_TTL
seconds and the page renews a minute before expiry.
"""

import json

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from conftest import OIDC_TOKEN_TTL
from test_browser import css, sign_in, wait
from test_sign_in import USERS, at_provider_login, provider_login

GROUP = "demo-team"  # local/src/seed.rs: alice, bob and carol are members


def oidc_sign_in(browser, stack, user, hash_path=""):
    browser.driver.get(f"{stack.api}/{hash_path}")
    css(browser, "#signin").click()
    provider_login(browser, user, USERS[user]["password"])
    wait(browser, EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".who"), USERS[user]["name"]))


def stored(browser):
    """The session the current tab holds (its sessionStorage), or None."""
    return json.loads(browser.driver.execute_script("return sessionStorage.getItem('groupshare.session')") or "null")


def claims(session):
    import base64
    payload = session["token"].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def duplicate(browser):
    """`window.open` of the page: the new tab starts with a copy of this tab's sessionStorage,
    as Chrome's "Duplicate" does. Returns the new tab's handle (the driver is switched to it)."""
    before = set(browser.driver.window_handles)
    browser.driver.execute_script("window.open(location.href)")
    wait(browser, lambda d: len(d.window_handles) == len(before) + 1)
    (handle,) = set(browser.driver.window_handles) - before
    browser.driver.switch_to.window(handle)
    return handle


def new_tab(browser, url):
    """A tab opened by typing the address: nothing of another tab's sessionStorage."""
    browser.driver.switch_to.new_window("tab")
    browser.driver.get(url)
    return browser.driver.current_window_handle


def signed_out_reason(browser):
    banner = browser.driver.find_elements(By.ID, "banner")
    return banner[0].text if banner else ""


def sign_out(browser):
    """Clicks Sign out (the bar is redrawn when the profile arrives: a stale button is found
    again)."""
    def click(driver):
        driver.find_element(By.XPATH, "//div[@id='session']//button[text()='Sign out']").click()
        return True
    wait(browser, click)


def renewed_everywhere(browser, tabs, after_exp, seconds=OIDC_TOKEN_TTL):
    """Waits until every tab holds a token expiring after `after_exp`; a tab that signed out
    fails at once, with what it said. Returns each tab's session."""
    def check(driver):
        sessions = []
        for handle in tabs:
            driver.switch_to.window(handle)
            session = stored(browser)
            assert session is not None, f"a tab was signed out: {signed_out_reason(browser)!r}"
            sessions.append(session)
        return sessions if all(claims(s)["exp"] > after_exp for s in sessions) else False
    return wait(browser, check, seconds=seconds)


def api_works(browser, handle):
    """An API call with the tab's current token: the group's history."""
    browser.driver.switch_to.window(handle)
    browser.driver.execute_script("location.hash = '#/'")
    browser.driver.execute_script(f"location.hash = '#/g/{GROUP}'")
    css(browser, ".history .msg")
    assert stored(browser) is not None


def test_a_duplicated_tab_and_its_original_both_renew_past_the_rotation(oidc_stack, browsers):
    carol = browsers()
    oidc_sign_in(carol, oidc_stack, "carol")
    original = carol.driver.current_window_handle
    first = stored(carol)
    copy = duplicate(carol)
    wait(carol, EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".who"), "Carol"))
    assert stored(carol)["token"] == first["token"]  # the same refresh token, due at the same moment

    # Twice: the second renewal spends the token the first one rotated to, which a provider
    # that saw the old one used twice has revoked with the whole sign-in.
    sessions = renewed_everywhere(carol, [original, copy], claims(first)["exp"])
    assert sessions[0]["token"] == sessions[1]["token"]
    sessions = renewed_everywhere(carol, [original, copy], claims(sessions[0])["exp"])
    assert sessions[0]["token"] == sessions[1]["token"]
    for handle in (original, copy):
        api_works(carol, handle)


HOLD_RENEWALS = """
    // Token-endpoint renewals are held here until the test lets them go.
    window.heldRenewals = [];
    const realFetch = window.fetch;
    window.fetch = (url, init) => {
      if (init && init.body instanceof URLSearchParams && init.body.get('grant_type') === 'refresh_token'
          && window.heldRenewals) {
        return new Promise((go) => window.heldRenewals.push(() => go(realFetch(url, init))));
      }
      return realFetch(url, init);
    };"""


def test_tabs_due_to_renew_at_once_spend_the_refresh_token_once(oidc_stack, browsers):
    """Both tabs' renewals are due at the same moment. The first tab's request to the provider
    is held until the other tab is at its turn too (queued for the renewal lock, or, without
    the lock, holding a request of its own), so both decide before either has an answer."""
    bob = browsers()
    oidc_sign_in(bob, oidc_stack, "bob")
    original = bob.driver.current_window_handle
    copy = duplicate(bob)
    css(bob, ".who")
    tabs = [original, copy]
    # A first renewal as it comes, so both tabs are on one session whose renewal is ~15 s away.
    sessions = renewed_everywhere(bob, tabs, claims(stored(bob))["exp"])
    assert sessions[0]["token"] == sessions[1]["token"]
    start = sessions[0]
    for handle in tabs:
        bob.driver.switch_to.window(handle)
        bob.driver.execute_script(HOLD_RENEWALS)

    def both_at_their_turn(driver):
        held = 0
        for handle in tabs:
            driver.switch_to.window(handle)
            held += driver.execute_script("return window.heldRenewals.length")
        queued = driver.execute_async_script("""
            const done = arguments[arguments.length - 1];
            navigator.locks.query().then((s) => done(s.pending.some((l) => l.name.startsWith('groupshare.renewal:'))));""")
        return held >= 2 or (held == 1 and queued)
    wait(bob, both_at_their_turn, seconds=OIDC_TOKEN_TTL)
    for handle in tabs:
        bob.driver.switch_to.window(handle)
        bob.driver.execute_script("const held = window.heldRenewals; window.heldRenewals = null; held.forEach((go) => go());")

    # Both tabs on the renewed session, and it renews again: the provider saw no reuse.
    sessions = renewed_everywhere(bob, tabs, claims(start)["exp"])
    assert sessions[0]["token"] == sessions[1]["token"]
    renewed_everywhere(bob, tabs, claims(sessions[0])["exp"])
    for handle in tabs:
        api_works(bob, handle)


def test_a_new_tab_is_signed_in_by_the_open_one_at_its_deep_link(oidc_stack, browsers):
    alice = browsers()
    oidc_sign_in(alice, oidc_stack, "alice")
    session = stored(alice)
    link = f"{oidc_stack.api}/#/g/{GROUP}"
    new_tab(alice, link)
    # Signed in without the provider's pages, at the group it was opened for.
    css(alice, ".history .msg")
    assert alice.driver.current_url == link
    # This document is the one the address opened (a provider's redirect would have loaded
    # another, with `?code=`), and it asked the provider nothing.
    assert alice.driver.execute_script("return performance.getEntriesByType('navigation')[0].name") == link
    asked = alice.driver.execute_script("return performance.getEntriesByType('resource').map((e) => e.name)")
    assert not [u for u in asked if u.startswith(oidc_stack.issuer)], asked
    assert stored(alice)["token"] == session["token"]
    wait(alice, EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".who"), "Alice"))


def test_signing_out_in_one_tab_signs_out_the_others(oidc_stack, browsers):
    carol = browsers()
    oidc_sign_in(carol, oidc_stack, "carol")
    first = carol.driver.current_window_handle
    other = new_tab(carol, f"{oidc_stack.api}/#/g/{GROUP}")
    css(carol, ".history .msg")
    css(carol, "#compose").send_keys("half a thought")
    draft = f"groupshare.draft:carol:{GROUP}"
    assert carol.driver.execute_script(f"return sessionStorage.getItem('{draft}')") == "half a thought"

    carol.driver.switch_to.window(first)
    # A mark on this page's window: the page back from the provider's sign-out is a new one.
    carol.driver.execute_script("window.beforeSignOut = true")
    sign_out(carol)
    wait(carol, lambda d: d.current_url.startswith(oidc_stack.api + "/")
         and d.execute_script("return window.beforeSignOut === undefined")
         and d.find_elements(By.ID, "signin"))

    # The other tab is signed out too, its draft gone as after a chosen sign-out, and signing in
    # there asks for the password: the provider's session has ended.
    carol.driver.switch_to.window(other)
    css(carol, "#signin")
    assert stored(carol) is None
    assert carol.driver.execute_script(f"return sessionStorage.getItem('{draft}')") is None
    assert "signed out in another tab" in signed_out_reason(carol)
    css(carol, "#signin").click()
    at_provider_login(carol, oidc_stack)


def test_demo_tabs_stay_independent(stack, browsers):
    """The local stack's demo: alice in one tab, bob in another, of one browser."""
    device = browsers()
    sign_in(device, stack, "alice")
    alice = device.driver.current_window_handle
    device.driver.switch_to.new_window("tab")
    bob = device.driver.current_window_handle
    sign_in(device, stack, "bob")  # the sign-in form, not alice's session
    sign_out(device)
    css(device, "#user")

    device.driver.switch_to.window(alice)
    css(device, ".who[data-user='alice']")
    api_works(device, alice)
    assert stored(device)["user"] == "alice"
    device.driver.switch_to.window(bob)
    assert stored(device) is None


def test_a_token_refused_in_one_tab_signs_out_that_tab_only(oidc_stack, browsers):
    """Expiry or a refused token is that tab's business: the person did not sign out, and the
    other tabs' tokens still work."""
    bob = browsers()
    oidc_sign_in(bob, oidc_stack, "bob")
    first = bob.driver.current_window_handle
    other = new_tab(bob, f"{oidc_stack.api}/")
    wait(bob, EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".who"), "Bob"))

    bob.driver.switch_to.window(first)
    # The API refuses this tab's token (as the authorizer does an expired one).
    bob.driver.execute_script("""
        const realFetch = window.fetch;
        window.fetch = (url, init) => String(url).includes('/conversations')
          ? Promise.resolve(new Response(JSON.stringify({ error: { code: 'unauthorized', message: 'Token expired' } }),
              { status: 401, headers: { 'Content-Type': 'application/json' } }))
          : realFetch(url, init);""")
    bob.driver.execute_script(f"location.hash = '#/g/{GROUP}'")
    wait(bob, lambda d: "Token expired" in signed_out_reason(bob))
    css(bob, "#signin")

    api_works(bob, other)
    css(bob, ".who")
    assert signed_out_reason(bob) == ""


def test_a_tab_never_takes_another_persons_session(oidc_stack, browsers):
    """Whatever another tab of the origin says, a tab signed in as one person stays that person:
    a newer session of someone else (or of another sign-in) is not taken, nor a sign-out of
    someone else's sign-in heeded."""
    alice = browsers()
    oidc_sign_in(alice, oidc_stack, "alice")
    mine = stored(alice)
    # What a peer tab would send (messages from one sender arrive in order: the last, a newer
    # session of alice's own sign-in, is taken, so the ones before it have been read).
    alice.driver.execute_script("""
        const mine = arguments[0];
        const peer = new BroadcastChannel('groupshare.session');
        peer.postMessage({ type: 'session', from: 'peer', session: { ...mine, user: 'bob', name: 'Bob', gen: mine.gen + 5 } });
        peer.postMessage({ type: 'session', from: 'peer', session: { ...mine, lineage: 'another-sign-in', gen: mine.gen + 5 } });
        peer.postMessage({ type: 'signout', from: 'peer', user: 'bob', lineage: mine.lineage });
        peer.postMessage({ type: 'signout', from: 'peer', user: 'alice', lineage: 'another-sign-in' });
        peer.postMessage({ type: 'session', from: 'peer', session: { ...mine, gen: mine.gen + 1 } });""", mine)
    wait(alice, lambda _: stored(alice)["gen"] == mine["gen"] + 1)
    now = stored(alice)
    assert (now["user"], now["lineage"], now["token"]) == ("alice", mine["lineage"], mine["token"])
    css(alice, ".who[data-user='alice']")
    assert signed_out_reason(alice) == ""
