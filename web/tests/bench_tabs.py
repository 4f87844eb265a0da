"""Benchmark, not a test (pytest collects it only when named: see docs/performance.md, "A new
tab of a signed-in browser"): the time from typing a group's address in a new tab to its history
on screen, when the open tab's session is taken (web/tabs.js) and when the new tab goes to the
provider, which lets it straight back in (its session cookie is the browser's). The second
leaves out the person's click on "Sign in" (the test clicks as soon as the button is there).
"""

import os
import statistics
import time

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from test_browser import css, wait
from test_tabs import GROUP, oidc_sign_in

RUNS = int(os.environ.get("BENCH_RUNS", "7"))


def one(browser, link, share):
    first = browser.driver.current_window_handle
    browser.driver.switch_to.new_window("tab")
    if not share:
        # No channel in this tab: it cannot ask the other, as before tabs.js.
        browser.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                                       {"source": "delete window.BroadcastChannel"})
    start = time.monotonic()
    browser.driver.get(link)
    if not share:
        wait(browser, EC.element_to_be_clickable((By.ID, "signin"))).click()
    css(browser, ".history .msg", seconds=30)
    elapsed = time.monotonic() - start
    assert browser.driver.current_url == link
    browser.driver.close()
    browser.driver.switch_to.window(first)
    return elapsed


def test_bench_new_tab_sign_in(oidc_stack, browsers):
    device = browsers()
    oidc_sign_in(device, oidc_stack, "alice")
    link = f"{oidc_stack.api}/#/g/{GROUP}"
    results = {"shared": [], "provider": []}
    for _ in range(RUNS):
        for kind in results:
            results[kind].append(one(device, link, kind == "shared"))
    for kind, times in results.items():
        print(f"{kind}: median {statistics.median(times) * 1000:.0f} ms, "
              f"min {min(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms over {RUNS}")
