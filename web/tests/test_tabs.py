"""One sign-in across a browser's tabs (web/tabs.js). With OpenID Connect, the tabs of one
browser share the session over a BroadcastChannel: a duplicated tab renews together with its
original although the provider rotates refresh tokens (and revokes the whole sign-in when a used
one comes back), a new tab is signed in by its peers, and signing out in one tab signs out the
others. With the local stack's demo sign-in, tabs stay independent: alice in one, bob in another.

Renewal is forced as in test_sign_in.py: the local provider's ID tokens live OIDC_TOKEN_TTL
seconds and the page renews a minute before expiry.
"""

import json
import urllib.request
from urllib.parse import parse_qs

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from conftest import OIDC_TOKEN_TTL
from test_browser import before_load, css, sign_in, wait
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


def signed_in_in_two_tabs(browser, stack, user):
    """`user` signed in at the provider, and the tab duplicated: two tabs holding one session,
    the same refresh token, due at the same moment. Returns it and both tabs' handles (the
    driver is in the copy)."""
    oidc_sign_in(browser, stack, user)
    first = stored(browser)
    tabs = [browser.driver.current_window_handle, duplicate(browser)]
    wait(browser, EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".who"), user.capitalize()))
    return first, tabs


def new_tab(browser, url, tap=False):
    """A tab opened by typing the address: nothing of another tab's sessionStorage. With `tap`,
    TAP in every page it loads."""
    browser.driver.switch_to.new_window("tab")
    if tap:
        tap_every_page(browser)
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
    first, (original, copy) = signed_in_in_two_tabs(carol, oidc_stack, "carol")
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
    // Token-endpoint renewals, counted in `renewalsAsked`. While `heldRenewals` is a list, a
    // request waits there, unsent, until the test lets it go; while `heldAnswers` is, it is sent
    // at once and its answer waits there; while `hangRenewals` is set, the next one is a request
    // that never answers (it ends only if its signal aborts it, as the browser would).
    window.heldRenewals = [];
    window.heldAnswers = null;
    window.hangRenewals = false;
    window.renewalsAsked = 0;
    const realFetch = window.fetch;
    window.fetch = (url, init) => {
      if (init && init.body instanceof URLSearchParams && init.body.get('grant_type') === 'refresh_token') {
        window.renewalsAsked += 1;
        if (window.hangRenewals) {
          window.hangRenewals = false;
          window.hung = true;
          return new Promise((_, fail) => init.signal && init.signal.addEventListener('abort', () => fail(init.signal.reason)));
        }
        if (window.heldRenewals) {
          return new Promise((go) => window.heldRenewals.push(() => go(realFetch(url, init))));
        }
        if (window.heldAnswers) {
          const answer = realFetch(url, init);
          return new Promise((go) => window.heldAnswers.push(() => go(answer)));
        }
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
          ? Promise.resolve(new Response(JSON.stringify({ message: 'Unauthorized' }),
              { status: 401, headers: { 'Content-Type': 'application/json' } }))
          : realFetch(url, init);""")
    bob.driver.execute_script(f"location.hash = '#/g/{GROUP}'")
    wait(bob, lambda d: "sign-in has expired" in signed_out_reason(bob))
    css(bob, "#signin")

    api_works(bob, other)
    css(bob, ".who")
    assert signed_out_reason(bob) == ""


def test_a_tab_never_takes_another_persons_session(oidc_stack, browsers):
    """Whatever another tab of the origin says, a tab signed in as one person stays that person:
    a newer session of someone else (or of another sign-in) is not taken, nor someone else's
    sign-out heeded."""
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
        peer.postMessage({ type: 'session', from: 'peer', session: { ...mine, gen: mine.gen + 1 } });""", mine)
    wait(alice, lambda _: stored(alice)["gen"] == mine["gen"] + 1)
    now = stored(alice)
    assert (now["user"], now["lineage"], now["token"]) == ("alice", mine["lineage"], mine["token"])
    css(alice, ".who[data-user='alice']")
    assert signed_out_reason(alice) == ""


# --- Review fixes: what a tab signed out, or stuck, must never do ------------------------------

RECORD_POSTS = """
    // Every message this page's scripts post on a BroadcastChannel, in `posted`.
    window.posted = [];
    const realPost = BroadcastChannel.prototype.postMessage;
    BroadcastChannel.prototype.postMessage = function (message) {
      window.posted.push(message);
      return realPost.call(this, message);
    };"""

# Before the page's scripts (tap_every_page): the page's BroadcastChannels record what they post
# (`tap.posted`) and what their handler has handled (`tap.handled`), and hold back the messages
# `tap.delay` picks (`tap.delayed`) until `tap.release()`. `tap.Real` is the browser's own, for
# the test's stand-in peers.
TAP = """
(() => {
  const Real = window.BroadcastChannel;
  const tap = { Real, posted: [], handled: [], delayed: [], delay: null };
  tap.release = () => { tap.delay = null; tap.delayed.splice(0).forEach((deliver) => deliver()); };
  window.tap = tap;
  window.BroadcastChannel = class extends Real {
    postMessage(message) {
      tap.posted.push(message);
      return super.postMessage(message);
    }
    get onmessage() { return super.onmessage; }
    set onmessage(handler) {
      super.onmessage = (event) => {
        const deliver = () => { handler.call(this, event); tap.handled.push(event.data); };
        if (tap.delay && tap.delay(event.data)) tap.delayed.push(deliver);
        else deliver();
      };
    }
  };
})();"""


def tap_every_page(browser):
    """TAP in every page the current tab loads from now on."""
    browser.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": TAP})


def count_renewals(browser):
    """HOLD_RENEWALS in the current tab, letting every request through (and counting it)."""
    browser.driver.execute_script(HOLD_RENEWALS)
    browser.driver.execute_script("window.heldRenewals = null")


def renewal_locks(browser):
    """The renewal locks of the origin, held and waited for (any tab's)."""
    return browser.driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const renewal = (locks) => locks.map((l) => l.name).filter((n) => n.startsWith('groupshare.renewal:'));
        navigator.locks.query().then((s) => done({ held: renewal(s.held), pending: renewal(s.pending) }));""")


def held_gens(browser, lineage):
    """The gens of the sign-in's sessions that some tab of the origin holds (and would offer)."""
    return browser.driver.execute_async_script("""
        const [prefix, done] = [`groupshare.held:${arguments[0]}:`, arguments[arguments.length - 1]];
        navigator.locks.query().then((s) => done(s.held.map((l) => l.name).filter((n) => n.startsWith(prefix))
          .map((n) => Number(n.slice(prefix.length)))));""", lineage)


def at_their_turn(browser, tabs):
    """Until one tab's token request is held (HOLD_RENEWALS) and another waits for the renewal
    lock: (the renewing tab, the waiting one)."""
    def check(driver):
        held = {}
        for handle in tabs:
            driver.switch_to.window(handle)
            held[handle] = driver.execute_script("return window.heldRenewals.length")
        if sum(held.values()) != 1 or not renewal_locks(browser)["pending"]:
            return False
        renewing = next(h for h in tabs if held[h])
        return renewing, next(h for h in tabs if h != renewing)
    return wait(browser, check, seconds=OIDC_TOKEN_TTL)


def test_a_tab_signed_out_while_waiting_to_renew_spends_and_offers_nothing(oidc_stack, browsers):
    """Tabs A and B (a duplicate) are due at once: A's token request is out, B waits for its
    turn. The person signs out in A, which B hears, and A leaves. B's turn then comes: it must
    not spend the refresh token, nor hold or offer a session (a new tab would be signed in by a
    tab the person signed out of)."""
    carol = browsers()
    first, tabs = signed_in_in_two_tabs(carol, oidc_stack, "carol")
    for handle in tabs:
        carol.driver.switch_to.window(handle)
        carol.driver.execute_script(HOLD_RENEWALS)
        carol.driver.execute_script(RECORD_POSTS)
        assert stored(carol)["token"] == first["token"]
    renewing, waiting = at_their_turn(carol, tabs)
    carol.driver.switch_to.window(waiting)
    carol.driver.execute_script("window.heldRenewals = null")  # its request, if it sends one, goes out

    carol.driver.switch_to.window(renewing)
    sign_out(carol)
    carol.driver.switch_to.window(waiting)
    wait(carol, lambda _: "signed out in another tab" in signed_out_reason(carol))
    # A's lock went with its page; B's turn came and is over.
    wait(carol, lambda _: renewal_locks(carol) == {"held": [], "pending": []}, seconds=30)
    assert carol.driver.execute_script("return window.renewalsAsked") == 0
    assert not [m for m in carol.driver.execute_script("return window.posted") if m["type"] == "session"]
    assert held_gens(carol, first["lineage"]) == []
    assert stored(carol) is None


REFUSE_CONVERSATIONS_LATER = """
    // The API's answers to the conversation calls wait in `heldRefusals`; each is a 401 (as the
    // authorizer answers an expired token).
    window.heldRefusals = [];
    const before = window.fetch;
    window.fetch = (url, init) => String(url).includes('/conversations')
      ? new Promise((answer) => window.heldRefusals.push(() => answer(new Response(
          JSON.stringify({ message: 'Unauthorized' }),
          { status: 401, headers: { 'Content-Type': 'application/json' } }))))
      : before(url, init);"""


def test_a_renewal_answered_after_a_refused_token_is_not_offered(oidc_stack, browsers):
    """The tab's token request is out when the API refuses its token (a call that had its token
    before the renewal began), which signs the tab out. The renewal's answer then arrives: the
    tab must not hold or offer it, or a new tab would be signed in by a signed-out tab."""
    bob = browsers()
    oidc_sign_in(bob, oidc_stack, "bob")
    first = stored(bob)
    bob.driver.execute_script(HOLD_RENEWALS)
    bob.driver.execute_script("window.heldRenewals = null; window.heldAnswers = []")
    bob.driver.execute_script(RECORD_POSTS)
    bob.driver.execute_script(REFUSE_CONVERSATIONS_LATER)
    bob.driver.execute_script(f"location.hash = '#/g/{GROUP}'")
    wait(bob, lambda d: d.execute_script("return window.heldRefusals.length") > 0)
    wait(bob, lambda d: d.execute_script("return window.heldAnswers.length") == 1, seconds=OIDC_TOKEN_TTL)

    bob.driver.execute_script("window.heldRefusals.forEach((answer) => answer())")
    wait(bob, lambda _: "sign-in has expired" in signed_out_reason(bob))
    bob.driver.execute_script("window.heldAnswers.forEach((go) => go())")
    wait(bob, lambda _: renewal_locks(bob) == {"held": [], "pending": []})
    assert held_gens(bob, first["lineage"]) == []
    assert not [m for m in bob.driver.execute_script("return window.posted") if m["type"] == "session"]
    assert stored(bob) is None


def test_a_newer_session_withheld_by_a_live_tab_is_not_renewed_over(oidc_stack, browsers):
    """A live tab holds a newer session of the sign-in (its lock) but never answers (frozen or
    closing). This tab's refresh token was spent by that renewal: sending it again is a reuse,
    for which a rotating provider revokes the whole sign-in. The tab signs out, saying why, and
    sends nothing to the provider."""
    alice = browsers()
    oidc_sign_in(alice, oidc_stack, "alice")
    mine = stored(alice)
    count_renewals(alice)
    alice.driver.execute_script("""
        navigator.locks.request(`groupshare.held:${arguments[0]}:${arguments[1]}`, { mode: 'shared' },
          () => new Promise(() => {}));""", mine["lineage"], mine["gen"] + 1)
    wait(alice, lambda d: stored(alice) is None or d.execute_script("return window.renewalsAsked"),
         seconds=OIDC_TOKEN_TTL)
    assert alice.driver.execute_script("return window.renewalsAsked") == 0
    css(alice, "#signin")
    assert "did not share it" in signed_out_reason(alice)


def test_a_hung_token_request_does_not_stall_the_other_tabs(oidc_stack, browsers):
    """The renewing tab's token request never answers (a hung connection) while it holds the
    renewal lock. It gives up (as not reaching the provider), the waiting tab renews, and both
    end on the renewed session."""
    carol = browsers()
    first, tabs = signed_in_in_two_tabs(carol, oidc_stack, "carol")
    for handle in tabs:
        carol.driver.switch_to.window(handle)
        count_renewals(carol)
        carol.driver.execute_script("window.hangRenewals = true")

    def hung(driver):
        for handle in tabs:
            driver.switch_to.window(handle)
            if driver.execute_script("return window.hung === true"):
                return handle
        return False
    stuck = wait(carol, hung, seconds=OIDC_TOKEN_TTL)
    for handle in tabs:
        carol.driver.switch_to.window(handle)
        carol.driver.execute_script("window.hangRenewals = false")  # only the first one hangs

    sessions = renewed_everywhere(carol, tabs, claims(first)["exp"])
    assert sessions[0]["token"] == sessions[1]["token"]
    for handle in tabs:
        api_works(carol, handle)
    carol.driver.switch_to.window(stuck)
    assert carol.driver.execute_script("return window.renewalsAsked") == 1  # it took its peer's


def test_a_frozen_tab_holding_the_renewal_lock_does_not_hang_this_one(oidc_stack, browsers):
    """Another tab holds the renewal lock and never lets go (frozen, stuck). This tab's wait for
    its turn ends (tabs.js, TURN_MS): the API calls waiting on the renewal go on with the token,
    which still serves, instead of hanging."""
    bob = browsers()
    oidc_sign_in(bob, oidc_stack, "bob")
    mine = stored(bob)
    # The stand-in for the frozen tab: a lock request of this page's, never let go.
    bob.driver.execute_script(
        "navigator.locks.request(`groupshare.renewal:${arguments[0]}`, () => new Promise(() => {}))", mine["lineage"])
    wait(bob, lambda _: renewal_locks(bob)["pending"], seconds=OIDC_TOKEN_TTL)  # its turn is due
    bob.driver.execute_script(f"location.hash = '#/g/{GROUP}'")
    css(bob, ".history .msg", seconds=OIDC_TOKEN_TTL)
    assert stored(bob)["token"] == mine["token"]


def test_a_tab_signed_in_before_tabs_shared_stays_signed_out_after_signing_out(oidc_stack, browsers):
    """A tab holding a session stored before sessions carried a lineage signs out. Back from the
    provider, it asks no tab for a session: the other tab would sign it straight back in."""
    alice = browsers()
    oidc_sign_in(alice, oidc_stack, "alice")
    new_tab(alice, f"{oidc_stack.api}/")  # signed in by the first tab, which stays open
    wait(alice, EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".who"), "Alice"))
    alice.driver.execute_script("""
        const s = JSON.parse(sessionStorage.getItem('groupshare.session'));
        delete s.lineage;
        delete s.gen;
        sessionStorage.setItem('groupshare.session', JSON.stringify(s));""")
    tap_every_page(alice)
    alice.driver.refresh()
    wait(alice, EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".who"), "Alice"))
    assert "lineage" not in stored(alice)

    alice.driver.execute_script("window.beforeSignOut = true")
    sign_out(alice)
    # Back, and drawn: the sign-in page is drawn in the task that would have asked (and the
    # peer's answer would sign it straight in).
    wait(alice, lambda d: d.current_url.startswith(oidc_stack.api + "/")
         and d.execute_script("return window.beforeSignOut === undefined && !!window.tap")
         and (d.find_elements(By.ID, "signin") or d.find_elements(By.CSS_SELECTOR, ".who")))
    assert not [m for m in alice.driver.execute_script("return window.tap.posted") if m["type"] == "ask"]
    css(alice, "#signin")
    assert stored(alice) is None


def test_a_new_tab_takes_no_session_offered_before_a_sign_out(oidc_stack, browsers):
    """Messages from different tabs arrive in no set order: a new tab, still asking, can hear
    the person sign out before an answer a peer sent just before that. After a sign-out it takes
    no answer."""
    alice = browsers()
    oidc_sign_in(alice, oidc_stack, "alice")
    offered = stored(alice)
    device = browsers()  # its tab is alone: it asks, and nobody answers
    tap_every_page(device)
    device.driver.get(f"{oidc_stack.api}/")
    css(device, "#signin")
    (ask,) = [m for m in device.driver.execute_script("return window.tap.posted") if m["type"] == "ask"]
    # One stand-in peer, whose messages arrive in order: the sign-out, then the answer.
    device.driver.execute_script("""
        const [asker, session] = arguments;
        const peer = new window.tap.Real('groupshare.session');
        peer.postMessage({ type: 'signout', from: 'peer', user: session.user, lineage: session.lineage });
        peer.postMessage({ type: 'session', from: 'peer', to: asker, session });""", ask["from"], offered)
    wait(device, lambda d: len([m for m in d.execute_script("return window.tap.handled")
                                if m.get("from") == "peer"]) == 2)
    assert stored(device) is None
    css(device, "#signin")


def test_a_tab_whose_turn_comes_before_the_peers_broadcast_asks_for_the_session(oidc_stack, browsers):
    """Two tabs due at once; in both, the renewed session's broadcast is held back, so the tab
    whose turn comes second has not heard of the renewal when it gets the lock. The held locks
    tell it a live tab holds a newer session: it asks for it and spends nothing."""
    bob = browsers()
    tap_every_page(bob)
    oidc_sign_in(bob, oidc_stack, "bob")
    first = stored(bob)
    original = bob.driver.current_window_handle
    copy = duplicate(bob)
    tap_every_page(bob)
    bob.driver.refresh()  # the copy again, tapped (its sessionStorage stays)
    wait(bob, EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".who"), "Bob"))
    tabs = [original, copy]
    for handle in tabs:
        bob.driver.switch_to.window(handle)
        count_renewals(bob)
        bob.driver.execute_script("window.tap.delay = (m) => m.type === 'session' && !m.to")
        assert stored(bob)["token"] == first["token"]

    sessions = renewed_everywhere(bob, tabs, claims(first)["exp"])
    assert sessions[0]["token"] == sessions[1]["token"]
    asked = delayed = 0
    for handle in tabs:
        bob.driver.switch_to.window(handle)
        asked += bob.driver.execute_script("return window.renewalsAsked")
        delayed += bob.driver.execute_script("return window.tap.delayed.length")
    assert (asked, delayed) == (1, 1)  # one request; the broadcast still undelivered
    for handle in tabs:
        bob.driver.switch_to.window(handle)
        bob.driver.execute_script("window.tap.release()")
    for handle in tabs:
        api_works(bob, handle)


def test_an_older_session_offered_after_a_newer_one_is_ignored(oidc_stack, browsers):
    alice = browsers()
    tap_every_page(alice)
    oidc_sign_in(alice, oidc_stack, "alice")
    mine = stored(alice)
    alice.driver.execute_script("""
        const mine = arguments[0];
        const peer = new window.tap.Real('groupshare.session');
        peer.postMessage({ type: 'session', from: 'peer', session: { ...mine, gen: mine.gen + 2 } });
        peer.postMessage({ type: 'session', from: 'peer', session: { ...mine, gen: mine.gen + 1 } });""", mine)
    wait(alice, lambda d: len([m for m in d.execute_script("return window.tap.handled")
                               if m.get("from") == "peer"]) == 2)
    assert stored(alice)["gen"] == mine["gen"] + 2


# --- Review fix: a sign-out reaches every tab of the person, and the refresh token is revoked ----

def fake_revocation(named_by):
    """Before the page's scripts: a revocation endpoint is named, by the provider's discovery
    (`named_by="discovery"`) or, as Cognito needs, by config.json's `revocation_url`
    (`"config"`); the local provider names none. Its requests are answered here and recorded in
    localStorage's `test.revoked` (shared by the origin's tabs, kept across the trip to the
    provider). With `test.revoke-fails` set, they do not reach it."""
    return """
(() => {
  const realFetch = window.fetch;
  const namedBy = '%s';
  const json = (body) => new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json' } });
  window.fetch = async (url, init) => {
    const u = String(url);
    if (namedBy === 'discovery' && u.endsWith('/.well-known/openid-configuration')) {
      const doc = await (await realFetch(url, init)).json();
      return json({ ...doc, revocation_endpoint: `${doc.issuer}/test-revoke` });
    }
    if (namedBy === 'config' && u.endsWith('config.json')) {
      const config = await (await realFetch(url, init)).json();
      return json({ ...config, auth: { ...config.auth, revocation_url: `${config.auth.issuer}/test-revoke` } });
    }
    if (u.endsWith('/test-revoke')) {
      const revoked = JSON.parse(localStorage.getItem('test.revoked') || '[]');
      revoked.push({ method: init.method, body: String(init.body) });
      localStorage.setItem('test.revoked', JSON.stringify(revoked));
      if (localStorage.getItem('test.revoke-fails')) throw new TypeError('Failed to fetch');
      return new Response('', { status: 200 });
    }
    return realFetch(url, init);
  };
})();""" % named_by


FAKE_REVOCATION = fake_revocation("discovery")

# Before the page's scripts: this tab's asks never leave it, as when the open tabs cannot answer
# (frozen in the background, or renewing).
DROP_ASKS = """
(() => {
  const Real = window.BroadcastChannel;
  window.BroadcastChannel = class extends Real {
    postMessage(message) { if (!(message && message.type === 'ask')) super.postMessage(message); }
  };
})();"""


def revocations(browser):
    """The revocation requests the origin's pages sent (FAKE_REVOCATION), as form fields."""
    sent = json.loads(browser.driver.execute_script("return localStorage.getItem('test.revoked')") or "[]")
    assert all(r["method"] == "POST" for r in sent), sent
    return [{k: v[0] for k, v in parse_qs(r["body"]).items()} for r in sent]


def back_signed_out(browser, stack):
    """Sign out in the current tab, and wait until it is back from the provider's sign-out."""
    browser.driver.execute_script("window.beforeSignOut = true")
    sign_out(browser)
    wait(browser, lambda d: d.current_url.startswith(stack.api + "/")
         and d.execute_script("return window.beforeSignOut === undefined")
         and d.find_elements(By.ID, "signin"))


def asked(browser):
    """The current tab (TAP) once it has asked the other tabs for a session at start-up: the id
    its question went out with."""
    return wait(browser, lambda d: d.execute_script(
        "const ask = window.tap.posted.find((m) => m.type === 'ask' && !m.lineage); return ask && ask.from"))


def heard_by(browser, sender, tabs):
    """A readiness barrier: until each of `tabs` (TAP) has handled the question `sender` asked.
    TAP counts a message handled after the page's handler ran, and a tab answers from there, so
    any answer has been posted by then. Returns how many sessions each tab offered `sender`
    (the driver is left in the last tab)."""
    def check(driver):
        offered = []
        for handle in tabs:
            driver.switch_to.window(handle)
            state = driver.execute_script("""
                const from = arguments[0];
                return {
                  heard: window.tap.handled.some((m) => m.type === 'ask' && m.from === from),
                  offered: window.tap.posted.filter((m) => m.type === 'session' && m.to === from).length,
                };""", sender)
            if not state["heard"]:
                return False
            offered.append(state["offered"])
        return offered
    return wait(browser, check)


def hold_renewals(browser):
    """The current tab's renewals wait, unsent (HOLD_RENEWALS): the local provider ends the
    grant at sign-out, and a refused renewal would sign the tab out by itself (which Cognito's
    logout does not)."""
    browser.driver.execute_script(HOLD_RENEWALS)


def test_signing_out_signs_out_the_persons_other_sign_in_too(oidc_stack, browsers):
    """Carol is signed in in tab 1. Tab 2 gets no answer from it (frozen, or renewing), so she
    signs in there again, straight through the provider's cookie: another sign-in (lineage).
    Signing out in tab 2 signs out tab 1 too, which revokes its own refresh token."""
    carol = browsers()
    before_load(carol, FAKE_REVOCATION)
    oidc_sign_in(carol, oidc_stack, "carol")
    first = carol.driver.current_window_handle
    hold_renewals(carol)
    mine = stored(carol)
    carol.driver.switch_to.new_window("tab")
    before_load(carol, FAKE_REVOCATION + DROP_ASKS)
    carol.driver.get(f"{oidc_stack.api}/")
    css(carol, "#signin").click()
    wait(carol, EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".who"), "Carol"))  # no password
    second = stored(carol)
    assert second["lineage"] != mine["lineage"]

    back_signed_out(carol, oidc_stack)
    carol.driver.switch_to.window(first)
    css(carol, "#signin")
    assert stored(carol) is None
    assert "signed out in another tab" in signed_out_reason(carol)
    # Each sign-in's refresh token revoked, by the tab that held it.
    sent = revocations(carol)
    assert sorted(r["token"] for r in sent) == sorted([mine["refresh_token"], second["refresh_token"]]), sent
    assert all((r["token_type_hint"], r["client_id"]) == ("refresh_token", "groupshare-web") for r in sent)


def test_a_tab_that_missed_the_sign_out_neither_offers_nor_keeps_its_session(oidc_stack, browsers):
    """A tab misses the sign-out broadcast (frozen in the background; or discarded, then
    restored with its sessionStorage). It must not hand its session to a new tab, nor take it
    up again when it is reloaded."""
    carol = browsers()
    tap_every_page(carol)
    before_load(carol, HOLD_RENEWALS)  # in the reloaded page too
    oidc_sign_in(carol, oidc_stack, "carol")
    missed = carol.driver.current_window_handle
    carol.driver.execute_script("window.tap.delay = (m) => m.type === 'signout'")
    signed_out_in = new_tab(carol, f"{oidc_stack.api}/", tap=True)  # signed in by the first tab
    wait(carol, EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".who"), "Carol"))
    back_signed_out(carol, oidc_stack)

    carol.driver.switch_to.window(missed)
    wait(carol, lambda d: d.execute_script("return window.tap.delayed.length") == 1)
    assert stored(carol) is not None  # it did not hear

    # The next person at the desk opens a new tab: it asks, and the tab that missed it answers
    # nothing (nor does the one signed out in), once each has heard the question.
    fresh = new_tab(carol, f"{oidc_stack.api}/", tap=True)
    css(carol, "#signin")
    assert heard_by(carol, asked(carol), [missed, signed_out_in]) == [0, 0]
    carol.driver.switch_to.window(fresh)
    assert not carol.driver.find_elements(By.CSS_SELECTOR, ".who")
    assert stored(carol) is None

    # The tab that missed it, reloaded (as a restored tab is): its stored session is refused at
    # load, before the sign-in screen is drawn; asking the other tabs for one, it gets none.
    carol.driver.switch_to.window(missed)
    carol.driver.refresh()
    css(carol, "#signin")
    assert stored(carol) is None
    assert heard_by(carol, asked(carol), [signed_out_in, fresh]) == [0, 0]
    carol.driver.switch_to.window(missed)
    assert not carol.driver.find_elements(By.CSS_SELECTOR, ".who")
    assert stored(carol) is None


def test_signing_out_revokes_the_refresh_token_before_leaving(oidc_stack, browsers):
    """RFC 7009 at the provider's `revocation_endpoint`, before its sign-out page: a copy of the
    session anywhere else cannot renew. The local provider advertises no revocation endpoint
    (oidc-provider's `revocation` feature is off), so the page is given one."""
    with urllib.request.urlopen(f"{oidc_stack.issuer}/.well-known/openid-configuration") as r:
        assert "revocation_endpoint" not in json.load(r)  # else: test a revoked token no longer renews
    bob = browsers()
    before_load(bob, FAKE_REVOCATION)
    oidc_sign_in(bob, oidc_stack, "bob")
    session = stored(bob)
    back_signed_out(bob, oidc_stack)
    assert revocations(bob) == [
        {"token": session["refresh_token"], "token_type_hint": "refresh_token", "client_id": "groupshare-web"}]
    css(bob, "#signin").click()
    at_provider_login(bob, oidc_stack)  # and the provider's session ended


def test_with_cognito_the_configs_revocation_url_is_where_the_token_is_revoked(oidc_stack, browsers):
    """Cognito's discovery names no revocation endpoint, and its /logout leaves refresh tokens
    valid: config.json's `revocation_url` (the template's `RevocationUrl`) is used instead."""
    bob = browsers()
    before_load(bob, fake_revocation("config"))
    oidc_sign_in(bob, oidc_stack, "bob")
    session = stored(bob)
    back_signed_out(bob, oidc_stack)
    assert revocations(bob) == [
        {"token": session["refresh_token"], "token_type_hint": "refresh_token", "client_id": "groupshare-web"}]


def test_a_revocation_that_fails_does_not_stop_signing_out(oidc_stack, browsers):
    bob = browsers()
    before_load(bob, FAKE_REVOCATION)
    oidc_sign_in(bob, oidc_stack, "bob")
    bob.driver.execute_script("localStorage.setItem('test.revoke-fails', '1')")
    back_signed_out(bob, oidc_stack)
    assert len(revocations(bob)) == 1
    assert stored(bob) is None
    css(bob, "#signin").click()
    at_provider_login(bob, oidc_stack)
