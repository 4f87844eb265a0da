"""Sign-in defects found hunting the web client (branch hunt-web), against the local OpenID
provider as deployed sign-in works."""

import json

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from test_browser import css, wait
from test_sign_in import USERS, provider_login, session_claims


def stored_session(browser, handle):
    """The session the tab `handle` holds (its sessionStorage), or None once signed out."""
    browser.driver.switch_to.window(handle)
    stored = browser.driver.execute_script("return sessionStorage.getItem('groupshare.session')")
    return json.loads(stored) if stored else None


def test_a_duplicated_tab_keeps_both_tabs_signed_in_across_renewals(oidc_stack, browsers):
    from conftest import OIDC_TOKEN_TTL

    # The provider's answer to a reused refresh token; the blank tab's favicon.
    browsers.allowed_console.extend([" 400 ", "favicon.ico"])
    alice = browsers()
    alice.driver.get(f"{oidc_stack.api}/")
    css(alice, "#signin").click()
    provider_login(alice, "alice", USERS["alice"]["password"])
    wait(alice, EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".who"), "Alice"))
    assert session_claims(alice)["sub"] == "alice"
    one = alice.driver.current_window_handle
    first = stored_session(alice, one)["expires_at"]
    # The browser's "Duplicate tab" (and "Reopen closed tab") copies the tab's sessionStorage,
    # refresh token included: done here by hand, as WebDriver has no such command.
    stored = alice.driver.execute_script("return JSON.stringify(Object.fromEntries(Object.entries(sessionStorage)))")
    alice.driver.switch_to.new_window("tab")
    two = alice.driver.current_window_handle
    alice.driver.get(f"{oidc_stack.api}/icon.svg")
    alice.driver.execute_script(
        "for (const [k, v] of Object.entries(JSON.parse(arguments[0]))) sessionStorage.setItem(k, v)", stored)
    alice.driver.get(f"{oidc_stack.api}/")
    wait(alice, EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".who"), "Alice"))

    # A minute before expiry each tab renews with the refresh token it holds: wait until both
    # have renewed or been signed out.
    def settled(_):
        sessions = [stored_session(alice, h) for h in (one, two)]
        return sessions if all(s is None or s["expires_at"] != first for s in sessions) else False

    sessions = wait(alice, settled, seconds=OIDC_TOKEN_TTL + 30)
    banners = []
    for handle in (one, two):
        alice.driver.switch_to.window(handle)
        banners.append(alice.driver.execute_script("return document.getElementById('banner').textContent"))
    # Both tabs are still signed in: duplicating a tab must not sign the person out.
    assert all(s is not None for s in sessions), banners
