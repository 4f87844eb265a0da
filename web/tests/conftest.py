"""The browser tests' fixtures: the local stack as processes on free loopback ports (moto, then
`groupshare-local serve`, as tests/src/local_stack.rs starts them), and headless Chromium
browsers, each with its own empty profile and download directory: a brand-new device.

scripts/test-web installs Chromium, chromedriver and selenium, builds groupshare-local and runs
this suite.
"""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("GROUPSHARE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("GROUPSHARE_CHROMEDRIVER", "/usr/bin/chromedriver")
# Quiet headless Chromium: without the background-networking flags it keeps dialling out, and a
# closed network answers with a flood of refused connections.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--lang=en-US",
]


# The local provider's ID token lifetime in the OIDC stack (the page renews at 60 s left).
OIDC_TOKEN_TTL = 75


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Exited(RuntimeError):
    """A stand-in exited while starting: typically its free port was taken in between."""


def wait_http(url, proc=None, log=None, seconds=300):
    """Until `url` answers. The bound only ends a wait that will never succeed on a machine busy
    with other builds; a process that exits (a port taken meanwhile, a crash) ends it at once."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log else ""
            raise Exited(f"{proc.args} exited with {proc.returncode} before {url} answered:\n{tail}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # it answers (401 without a caller is an answer)
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up within {seconds} s")


class Stack:
    """moto + groupshare-local, both stopped at the end of the session. With `oidc`, also the
    local OpenID provider (local/oidc) as scripts/local runs it, and the web client signs in
    there; without, it uses the stack's own token route (`auth.kind: "local"`)."""

    def __init__(self, workdir, oidc=False):
        self.workdir = Path(workdir)
        self.aws_port, self.api_port = free_port(), free_port()
        self.aws = f"http://127.0.0.1:{self.aws_port}"
        self.api = f"http://127.0.0.1:{self.api_port}"
        self.oidc_port = free_port() if oidc else None
        self.issuer = f"http://127.0.0.1:{self.oidc_port}" if oidc else None
        self.procs = []

    def start(self):
        logs = self.workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        moto = subprocess.Popen(
            [str(ROOT / ".local/venv-aws/bin/python"), str(ROOT / "scripts/lib/moto_server.py"),
             "-H", "127.0.0.1", "-p", str(self.aws_port)],
            stdout=open(logs / "moto.log", "wb"), stderr=subprocess.STDOUT,
        )
        self.procs.append(moto)
        wait_http(f"{self.aws}/moto-api/", moto, logs / "moto.log")
        env = dict(os.environ,
                   AWS_ENDPOINT_URL=self.aws, AWS_REGION="us-east-1",
                   AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local",
                   GROUPSHARE_PORT=str(self.api_port),
                   GROUPSHARE_DATA_DIR=str(self.workdir / "api"),
                   GROUPSHARE_WEB_DIR=str(ROOT / "web"),
                   RUST_LOG="warn")
        if self.issuer:
            provider = subprocess.Popen(
                ["node", str(ROOT / "local/oidc/provider.mjs")],
                env=dict(os.environ,
                         GROUPSHARE_OIDC_PORT=str(self.oidc_port),
                         GROUPSHARE_OIDC_DATA_DIR=str(self.workdir / "oidc"),
                         GROUPSHARE_OIDC_REDIRECT_URIS=f"{self.api}/",
                         GROUPSHARE_OIDC_MODULES=str(ROOT / ".local/oidc/node_modules"),
                         # Short-lived ID tokens, so a test sees the page renew one (a minute
                         # before expiry) without waiting an hour.
                         GROUPSHARE_OIDC_TOKEN_TTL=str(OIDC_TOKEN_TTL)),
                stdout=open(logs / "oidc.log", "wb"), stderr=subprocess.STDOUT,
            )
            self.procs.append(provider)
            wait_http(f"{self.issuer}/.well-known/openid-configuration", provider, logs / "oidc.log")
            env.update(GROUPSHARE_OIDC_ISSUER=self.issuer, GROUPSHARE_OIDC_CLIENT_ID="groupshare-web")
        target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
        binary = os.environ.get("GROUPSHARE_LOCAL_BIN", str(target / "debug/groupshare-local"))
        api = subprocess.Popen([binary, "serve"], env=env,
                               stdout=open(logs / "api.log", "wb"), stderr=subprocess.STDOUT)
        self.procs.append(api)
        wait_http(f"{self.api}/config", api, logs / "api.log")

    def stop(self):
        for proc in reversed(self.procs):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def call(self, user, method, path, body=None):
        """The API as a script calls it (X-Dev-User), to arrange data and check answers."""
        request = urllib.request.Request(
            self.api + path, method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"X-Dev-User": user, "Content-Type": "application/json",
                     "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request) as response:
                text = response.read()
                return response.status, (json.loads(text) if text else None)
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")


def _running_stack(oidc):
    # A port free_port() found may be taken before the process binds it (other suites run on
    # this machine): such a start is tried again on new ports.
    for attempt in range(3):
        workdir = tempfile.mkdtemp(prefix="gs-web-")
        s = Stack(workdir, oidc=oidc)
        try:
            s.start()
        except BaseException as e:
            s.stop()
            shutil.rmtree(workdir, ignore_errors=True)
            if isinstance(e, Exited) and attempt < 2:
                continue
            raise
        try:
            yield s
        finally:
            s.stop()
            shutil.rmtree(workdir, ignore_errors=True)
        return


@pytest.fixture(scope="session")
def stack():
    yield from _running_stack(oidc=False)


@pytest.fixture(scope="session")
def oidc_stack():
    """A second stack, as scripts/local runs it: sign-in at the local OpenID provider."""
    yield from _running_stack(oidc=True)


AXE_JS = ROOT / ".local/axe/node_modules/axe-core/axe.min.js"


def accessibility_problems(browser):
    """axe-core (pinned in web/tests/axe, installed by scripts/test-web) run on the page as it is
    now: every serious or critical violation, and any heading out of order."""
    browser.driver.execute_script(AXE_JS.read_text())
    violations = browser.driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        axe.run(document, { resultTypes: ['violations'] })
          .then((r) => done(r.violations.map((v) => ({
            id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 3) }))))
          .catch((e) => done([{ id: 'axe-failed', impact: 'critical', nodes: [String(e)] }]));""")
    return [v for v in violations
            if v["impact"] in ("serious", "critical") or v["id"] in ("heading-order", "page-has-heading-one")]


class Browser:
    """One headless Chromium with an empty profile: a device that has never seen GroupShare."""

    def __init__(self, workdir, width, height):
        self.profile = Path(workdir) / "profile"
        self.downloads = Path(workdir) / "downloads"
        self.downloads.mkdir(parents=True)
        options = Options()
        options.binary_location = CHROMIUM
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self.profile}")
        options.add_argument(f"--window-size={width},{height}")
        options.add_experimental_option("prefs", {
            "download.default_directory": str(self.downloads),
            "download.prompt_for_download": False,
            "download.directory_upgrade": True,
        })
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        # Debian's chromedriver, never one downloaded at run time.
        self.driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
        self.driver.execute_cdp_cmd("Page.setDownloadBehavior",
                                    {"behavior": "allow", "downloadPath": str(self.downloads)})
        if width < 500:
            # Headless windows have a minimum width; a phone is emulated instead.
            self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": width, "height": height, "deviceScaleFactor": 2, "mobile": True})
        self.console = []

    def logs(self):
        """Console messages so far (read once from the driver, kept here)."""
        self.console.extend(self.driver.get_log("browser"))
        return self.console

    def quit(self):
        self.driver.quit()


@pytest.fixture
def browsers(tmp_path):
    """A factory of fresh browsers; each is checked for console errors and closed at the end.
    A test that expects API errors on the console names their status in `allowed_console`."""
    made = []
    allowed = []

    def make(width=1280, height=900):
        browser = Browser(tmp_path / f"device-{len(made)}", width, height)
        made.append(browser)
        return browser

    make.allowed_console = allowed
    yield make
    try:
        for browser in made:
            errors = [
                entry for entry in browser.logs()
                if entry["level"] == "SEVERE" and not any(a in entry["message"] for a in allowed)
            ]
            assert not errors, f"console errors: {errors}"
    finally:
        for browser in made:
            browser.quit()
