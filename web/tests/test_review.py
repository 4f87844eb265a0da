"""Defects found by a security review of the web client (sec-web): loading older history that
failed was asked again at once, forever; a screen that finished loading after the person moved
on (or was signed out) was drawn over the one they were on; a sign-out left the previous
person's full-screen view, Forward dialog and uploads going; a refused token on an invite link
said "Invite link not found" and lost the link.
"""

import time

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from test_browser import SLOW_API, before_load, css, sign_in, wait


def new_group(stack, title, members=("bob",)):
    status, group = stack.call("alice", "POST", "/conversations", {"title": title, "members": list(members)})
    assert status == 201, group
    return group["conversation_id"]


def sign_in_here(browser, user):
    """Signs in on the sign-in screen shown, without loading the page again (what the page
    holds, uploads included, stays)."""
    field = css(browser, "#user")
    field.clear()
    field.send_keys(user)
    browser.driver.find_element(By.CSS_SELECTOR, "form.signin button[type=submit]").click()
    css(browser, f".who[data-user='{user}']")


def go(browser, hash_path):
    """To another screen of the same page (a link followed; the page is not loaded again)."""
    browser.driver.execute_script("location.hash = arguments[0]", hash_path)


def test_a_screen_left_while_it_loads_is_never_drawn_and_stops(stack, browsers):
    bob = browsers()
    # Reads of a group answer 1.5 s late (a slow network); each one is recorded as it is asked.
    before_load(bob, SLOW_API % 1500)
    before_load(bob, """
      window.__reads = [];
      const original = window.fetch;
      window.fetch = (url, init = {}) => {
        if ((init.method || 'GET') === 'GET') window.__reads.push(new URL(String(url), location.href).pathname);
        return original(url, init);
      };
    """)
    sign_in(bob, stack, "bob")
    link = "//a[contains(@class,'group-link')][.//span[@class='group-title'][text()='Demo team']]"
    wait(bob, EC.element_to_be_clickable((By.XPATH, link))).click()
    # Nothing seems to happen, so Bob goes back to his groups.
    go(bob, "#/")
    css(bob, ".group-list")
    time.sleep(3)
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
    time.sleep(3)
    assert css(bob, "#user").is_displayed()
    assert not bob.driver.find_elements(By.CSS_SELECTOR, "#view .group-head")
