"""Sign-in as deployed: OpenID Connect authorization code + PKCE against the local OpenID
provider (local/oidc, the stand-in for Cognito's managed login), whose ID token the local
authorizer verifies through the provider's JWKS. A person types their password on the
provider's page only, comes back to the page they opened, stays signed in across a reload, and
signing out ends the provider's session too.
"""

import base64
import json
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from test_browser import css, wait

ROOT = Path(__file__).resolve().parents[2]
USERS = json.loads((ROOT / "local/oidc/users.json").read_text())


def at_provider_login(browser, stack):
    """The provider's own sign-in form (not the app's page)."""
    css(browser, "#login-form #login")
    assert browser.driver.current_url.startswith(stack.issuer + "/interaction/")


def provider_login(browser, user, password):
    field = css(browser, "#login")
    field.clear()
    field.send_keys(user)
    browser.driver.find_element(By.ID, "password").send_keys(password)
    browser.driver.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()


def session_claims(browser):
    """The claims of the bearer token the page holds (its sessionStorage)."""
    session = json.loads(browser.driver.execute_script("return sessionStorage.getItem('groupshare.session')"))
    payload = session["token"].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_sign_in_at_the_provider_reload_and_sign_out(oidc_stack, browsers):
    bob = browsers()
    # A deep link, opened signed out: the person should land there after signing in.
    bob.driver.get(f"{oidc_stack.api}/#/g/demo-team")
    css(bob, "#signin").click()
    at_provider_login(bob, oidc_stack)

    # The provider checks the password.
    provider_login(bob, "bob", "not-bobs-password")
    assert "Wrong user name or password" in css(bob, "#login-error").text
    at_provider_login(bob, oidc_stack)

    provider_login(bob, "bob", USERS["bob"]["password"])
    # Back in the app as Bob (his name from the ID token), at the group he opened, whose
    # history the API served to the provider's token.
    wait(bob, EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".who"), "Bob"))
    css(bob, ".history .msg")
    url = bob.driver.current_url
    assert url == f"{oidc_stack.api}/#/g/demo-team", url  # no code or state left in the address
    claims = session_claims(bob)
    assert claims["iss"] == oidc_stack.issuer and claims["aud"] == "groupshare-web"
    assert (claims["sub"], claims["name"], claims["email"]) == ("bob", "Bob", "bob@example.com")

    # A reload keeps the session (no trip to the provider).
    bob.driver.refresh()
    wait(bob, EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".who"), "Bob"))
    css(bob, ".history .msg")
    assert bob.driver.current_url.startswith(oidc_stack.api)

    # Sign out ends the provider's session too: signing in again asks for the password.
    # (A mark on this page's window: the page after the trip to the provider and back is new.)
    bob.driver.execute_script("window.beforeSignOut = true")
    bob.driver.find_element(By.XPATH, "//div[@id='session']//button[text()='Sign out']").click()
    wait(bob, lambda d: d.current_url.startswith(oidc_stack.api + "/")
         and d.execute_script("return window.beforeSignOut === undefined")
         and d.find_elements(By.ID, "signin"))
    assert bob.driver.execute_script("return sessionStorage.getItem('groupshare.session')") is None
    css(bob, "#signin").click()
    at_provider_login(bob, oidc_stack)


def test_the_page_renews_its_token_and_reconnects_live(oidc_stack, browsers):
    from conftest import OIDC_TOKEN_TTL

    carol = browsers()
    carol.driver.get(f"{oidc_stack.api}/")
    css(carol, "#signin").click()
    provider_login(carol, "carol", USERS["carol"]["password"])
    wait(carol, EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".who"), "Carol"))
    css(carol, ".live-state.live")
    first = session_claims(carol)
    # Every WebSocket the page opens from now on, by URL (the token is in its query).
    carol.driver.execute_script("""
        window.openedSockets = [];
        window.WebSocket = new Proxy(window.WebSocket, { construct(target, args) {
            window.openedSockets.push(String(args[0]));
            return new target(...args);
        } });""")

    # A minute before the ID token expires, the page trades its refresh token for a new one
    # (no trip to the provider's pages), and the live socket reconnects with it.
    renewed = wait(carol, lambda d: (lambda c: c if c["exp"] > first["exp"] else False)(session_claims(carol)),
                   seconds=OIDC_TOKEN_TTL)
    assert renewed["sub"] == "carol" and renewed["iss"] == oidc_stack.issuer
    assert carol.driver.current_url.startswith(oidc_stack.api)
    token = json.loads(carol.driver.execute_script("return sessionStorage.getItem('groupshare.session')"))["token"]
    wait(carol, lambda d: any(f"token={token}" in url for url in d.execute_script("return window.openedSockets")))
    css(carol, ".live-state.live")
    # The API takes the renewed token.
    css(carol, "a.group-link").click()
    css(carol, ".history .msg")
    assert session_claims(carol)["exp"] == renewed["exp"]


def test_a_colleague_signs_in_at_the_provider_from_an_invite_link_and_downloads(oidc_stack, browsers, tmp_path):
    """The whole team flow as deployed: alice signs in at the provider, makes a group, shares a
    file and an invite link; carol, on a new device and signed out, opens the link, signs in at
    the provider, sees what she is joining, joins, and downloads the file by its exact name."""
    from test_browser import downloaded, file_card, group_with_a_file_and_an_invite

    alice = browsers()
    alice.driver.get(f"{oidc_stack.api}/")
    css(alice, "#signin").click()
    provider_login(alice, "alice", USERS["alice"]["password"])
    wait(alice, EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".who"), "Alice"))
    upload, payload, link = group_with_a_file_and_an_invite(
        alice, "Quarterly close", tmp_path / "季度 close checklist.txt")

    carol = browsers()
    carol.driver.get(link)
    css(carol, "#signin").click()
    at_provider_login(carol, oidc_stack)
    provider_login(carol, "carol", USERS["carol"]["password"])
    preview = css(carol, "form.invite-preview")
    assert "Alice invited you to join" in preview.text, preview.text
    assert "Quarterly close" in preview.text
    preview.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    card = file_card(carol, upload.name)
    wait(carol, lambda _: "from Alice" in card.text)
    card.find_element(By.CSS_SELECTOR, "button.download").click()
    assert downloaded(carol, upload.name) == payload
