"""The operators' console in a real browser: headless Chromium (Debian's) driven by selenium,
against the real `scim-lambda` binary serving on 127.0.0.1 with the embedded store.

    make tools browser-deps
    .venv/bin/python -m unittest discover -s tests/console -v

CONSOLE_SCREENSHOTS=<dir> keeps each page's screenshots there, at 1280 px and at phone width
(docs/console.md shows the ones kept in docs/console/); otherwise they go to a temporary directory.

- LocalOperator: the sign-in link the local server prints; a token created in the SCIM Tokens page,
  shown once, used against /scim/v2 (201), its last use shown, revoked and refused within the
  revocation bound; a conflict linked; a soft-deleted user restored; a failed request found in the
  provisioning log.
- OidcOperators: sign-in through a real OpenID Connect provider (Canaille, oidc_provider.py) on
  127.0.0.1, the ID token verified by the console: a tenant operator sees only their tenant, an
  account in no group is refused, a global operator sees every tenant.

Every wait is bounded; every address is 127.0.0.1.
"""

import json
import os
import re
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request
from pathlib import Path

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from test_infra import (
    CHROMEDRIVER,
    CHROMIUM,
    HTTP_SECONDS,
    PAGE_SECONDS,
    PNG_SIGNATURE,
    headless_chromium,
    http_json,
    start_provider,
    stop_process,
)

ROOT = Path(__file__).resolve().parents[2]
SERVER_START_SECONDS = 60
BUILD_SECONDS = 1800
# The service's revocation check interval (SCIM_TOKEN_REVOCATION_CHECK_SECONDS, default 5 s) and
# its minimum reload interval for unknown tokens (SCIM_TOKEN_REFRESH_MIN_SECONDS, default 5 s):
# a revoked token is refused, and a new one accepted, within these. Polls get a little more.
REVOCATION_BOUND_SECONDS = 5
POLL_SLACK_SECONDS = 5
PHONE_WIDTH = 390


def scim_lambda_binary() -> Path:
    """Build (a no-op when built) and locate the service's binary."""
    subprocess.run(
        ["cargo", "build", "--quiet", "--bin", "scim-lambda"], cwd=ROOT, check=True, timeout=BUILD_SECONDS
    )
    metadata = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Path(json.loads(metadata.stdout)["target_directory"]) / "debug" / "scim-lambda"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalServer:
    """`scim-lambda` as `make run` starts it, on 127.0.0.1:port, with a registry file of its own.
    Reads the lines it prints: the SCIM base URL, the console's sign-in link, the first token."""

    def __init__(self, port: int, directory: Path, extra_env: dict | None = None):
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", ""),
            "SCIM_LISTEN": f"127.0.0.1:{port}",
            "SCIM_STORE": "memory",
            "SCIM_TOKEN_REGISTRY": f"file:{directory / 'tokens.json'}",
            "RUST_LOG": "warn",
        }
        env.update(extra_env or {})
        binary = scim_lambda_binary()
        with open(directory / "server.log", "w") as log:
            self.process = subprocess.Popen(
                [str(binary)], cwd=directory, env=env, stdout=subprocess.PIPE, stderr=log, text=True
            )
        self.lines = []
        deadline = time.monotonic() + SERVER_START_SECONDS
        while not any(line.startswith("console: ") for line in self.lines):
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                raise AssertionError(f"the server did not start: {self.lines}")
            self.lines.append(self.process.stdout.readline().strip())
        self.origin = f"http://127.0.0.1:{port}"
        link = next(line for line in self.lines if line.startswith("console: "))
        self.sign_in_link = link.removeprefix("console: ")
        token_line = next(line for line in self.lines if line.startswith("Bearer token"))
        self.first_token = token_line.rsplit(" ", 1)[1]

    def stop(self):
        stop_process(self.process)
        self.process.stdout.close()

    def scim(self, method: str, path: str, token: str, body: dict | None = None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.origin}/scim/v2{path}", data=data, method=method)
        request.add_header("Authorization", f"Bearer {token}")
        request.add_header("User-Agent", "Okta SCIM Client 1.0.0")
        if data is not None:
            request.add_header("Content-Type", "application/scim+json")
        try:
            with urllib.request.urlopen(request, timeout=HTTP_SECONDS) as response:
                text = response.read()
                return response.status, json.loads(text) if text else {}
        except urllib.error.HTTPError as error:
            text = error.read()
            return error.code, json.loads(text) if text else {}


def okta_user(user_name: str) -> dict:
    """A user as Okta's SCIM client creates one."""
    given, family = user_name.split("@")[0].split(".") if "." in user_name else (user_name, "Doe")
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "name": {"givenName": given.title(), "familyName": family.title()},
        "emails": [{"primary": True, "value": user_name, "type": "work"}],
        "displayName": f"{given.title()} {family.title()}",
        "active": True,
    }


def poll(check, seconds: float, what: str):
    """Call check() until it returns a true value, for at most `seconds`; return that value."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds} s")
        time.sleep(0.25)


class BrowserTest(unittest.TestCase):
    """A browser and a place for screenshots, per class."""

    @classmethod
    def setUpClass(cls):
        for binary in (CHROMIUM, CHROMEDRIVER):
            if not os.access(binary, os.X_OK):
                raise AssertionError(f"{binary} is missing: run `make browser-deps`")
        directory = tempfile.TemporaryDirectory(prefix="console-test-")
        cls.addClassCleanup(directory.cleanup)
        cls.directory = Path(directory.name)
        if kept := os.environ.get("CONSOLE_SCREENSHOTS"):
            cls.screenshots = Path(kept)
            cls.screenshots.mkdir(parents=True, exist_ok=True)
        else:
            cls.screenshots = cls.directory / "screenshots"
            cls.screenshots.mkdir()
        cls.driver = headless_chromium()
        cls.addClassCleanup(cls.driver.quit)
        cls.wait = WebDriverWait(cls.driver, PAGE_SECONDS)

    def open(self, path: str):
        self.driver.get(self.server.origin + path)

    def heading(self) -> str:
        return self.wait.until(expected_conditions.presence_of_element_located((By.TAG_NAME, "h1"))).text

    def page_text(self) -> str:
        return self.driver.find_element(By.TAG_NAME, "body").text

    def click_button(self, text: str, within=None):
        """Click the button labelled `text` and wait for the page it submits to."""
        scope = within or self.driver
        button = scope.find_element(By.XPATH, f".//button[normalize-space()='{text}' or @aria-label='{text}']")
        self.navigating(button.click)

    def navigating(self, action):
        """Run `action` and wait until it has loaded another page. The old page is marked and
        the new one must be complete without the mark: waiting for an element of the old page
        to go stale races with the navigation in chromedriver."""
        self.driver.execute_script("window.consoleTestOldPage = true")
        action()
        WebDriverWait(self.driver, PAGE_SECONDS, ignored_exceptions=(WebDriverException,)).until(
            lambda d: d.execute_script(
                "return document.readyState === 'complete' && !window.consoleTestOldPage"
            )
        )

    def screenshot(self, name: str):
        """The page at 1280 px and at phone width; each a PNG, and the page fits the phone."""
        driver = self.driver
        for suffix, width in (("", 1280), ("-phone", PHONE_WIDTH)):
            driver.set_window_size(width, 900)
            path = self.screenshots / f"console-{name}{suffix}.png"
            self.assertTrue(driver.save_screenshot(str(path)))
            self.assertEqual(path.read_bytes()[:8], PNG_SIGNATURE, path)
            if width == PHONE_WIDTH:
                # Readable at phone width: the page itself does not scroll sideways (wide tables
                # scroll inside their own box).
                overflow = driver.execute_script(
                    "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                self.assertLessEqual(overflow, 1, f"{name} is wider than a phone")
        driver.set_window_size(1280, 900)


class LocalOperator(BrowserTest):
    """The local sign-in link and the pages of tenant `default`, in order (test_1 … test_6)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = LocalServer(free_port(), cls.directory)
        cls.addClassCleanup(cls.server.stop)

    def test_1_the_printed_link_signs_in_once(self):
        link = self.server.sign_in_link
        self.assertRegex(link, r"^http://127\.0\.0\.1:\d+/admin/login\?code=[A-Za-z0-9_-]{43}$")
        self.driver.get(link)
        self.assertEqual(self.wait.until(lambda d: self.heading() == "Overview" and self.heading()), "Overview")
        self.assertIn("local operator", self.page_text())
        self.assertIn("default", self.page_text())
        self.screenshot("overview")
        # The link works once: a second browser session using it is refused.
        cookies = self.driver.get_cookies()
        session = next(c for c in cookies if c["name"] == "scim_console")
        self.assertTrue(session["httpOnly"] and session["secure"])
        self.assertEqual(session["sameSite"], "Strict")
        self.driver.delete_cookie("scim_console")
        self.driver.get(link)
        self.assertIn("already used", self.page_text())
        self.driver.add_cookie({k: session[k] for k in ("name", "value", "path", "secure", "httpOnly", "sameSite")})

    def test_2_a_token_is_shown_once_works_shows_its_last_use_and_is_refused_once_revoked(self):
        tokens = "/admin/tenants/default/tokens"
        self.open(tokens)
        self.assertEqual(self.heading(), "SCIM Tokens · default")
        self.driver.find_element(By.ID, "token-name").send_keys("Okta production")
        Select(self.driver.find_element(By.ID, "token-expires")).select_by_visible_text("30 days")
        self.click_button("Create Token")
        field = self.wait.until(expected_conditions.presence_of_element_located((By.ID, "new-token")))
        token = field.get_attribute("value")
        self.assertRegex(token, r"^SCIM_[A-Za-z0-9_-]{43}$")
        self.assertIn("shown only this once", self.page_text())
        copy = self.driver.find_element(By.XPATH, "//button[normalize-space()='Copy']")
        copy.click()
        self.wait.until(lambda d: copy.text == "Copied")
        self.screenshot("token-created")
        self.open(tokens)
        self.assertNotIn(token, self.driver.page_source, "the token is never shown again")
        row = self.token_row("Okta production")
        self.assertIn("never", row.text)
        self.assertIn("active", row.text)

        # The IdP uses it: a new token is accepted within the reload interval.
        status, created = poll(
            lambda: (r := self.server.scim("POST", "/Users", token, okta_user("ann.lee@example.com")))[0] == 201
            and r,
            REVOCATION_BOUND_SECONDS + POLL_SLACK_SECONDS,
            "the new token accepted",
        )
        self.assertEqual(created["userName"], "ann.lee@example.com")

        def last_used():
            self.open(tokens)
            text = self.token_row("Okta production").text
            return "from 127.0.0.1" in text and text

        poll(last_used, 15, "the last use shown")
        # Times are shown in the viewer's timezone by console.js, UTC on hover.
        shown = self.token_row("Okta production").find_element(By.TAG_NAME, "time")
        self.assertRegex(shown.get_attribute("title"), r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$")
        self.assertNotEqual(shown.text, shown.get_attribute("title"), "rewritten for the viewer")
        self.screenshot("tokens")

        row = self.token_row("Okta production")
        self.click_button("Revoke Okta production", within=row)
        self.assertIn("Revoke the token Okta production", self.page_text().replace("\n", " "))
        self.screenshot("token-revoke-confirm")
        self.click_button("Revoke the token")
        self.assertIn("The token is revoked", self.page_text())
        self.assertIn("revoked", self.token_row("Okta production").text)
        revoked_at = time.monotonic()
        poll(
            lambda: self.server.scim("GET", "/Users", token)[0] == 401,
            REVOCATION_BOUND_SECONDS + POLL_SLACK_SECONDS,
            "the revoked token refused",
        )
        self.assertLessEqual(time.monotonic() - revoked_at, REVOCATION_BOUND_SECONDS + POLL_SLACK_SECONDS)

    def test_3_an_imported_account_is_linked_to_the_idps_user_that_collided_with_it(self):
        review = "/admin/tenants/default/review"
        self.open(review)
        self.assertEqual(self.heading(), "Review · default")
        # An existing account, imported as CSV: a dry run first, then the write.
        Select(self.driver.find_element(By.ID, "import-format")).select_by_value("csv")
        text = self.driver.find_element(By.ID, "import-text")
        text.clear()
        text.send_keys("userName,givenName,familyName,email\nkim.park@example.com,Kim,Park,kim.park@example.com\n")
        self.click_button("Check (dry run)")
        self.assertIn("kim.park@example.com", self.page_text())
        self.screenshot("review-import-dry-run")
        self.click_button("Import these accounts")
        self.assertIn("kim.park@example.com", self.page_text())

        # The IdP creates the same person: refused as a conflict, waiting for a decision.
        status, error = self.server.scim("POST", "/Users", self.server.first_token, okta_user("kim.park@example.com"))
        self.assertEqual((status, error.get("scimType")), (409, "uniqueness"), error)
        self.open(review)
        conflict = self.driver.find_element(By.CSS_SELECTOR, "article.conflict")
        self.assertIn("kim.park@example.com", conflict.text)
        self.assertIn("Identity provider sent", conflict.text)
        self.screenshot("review")
        self.click_button("Link kim.park@example.com to the existing account", within=conflict)
        self.assertEqual(self.driver.find_elements(By.CSS_SELECTOR, "article.conflict"), [])

        # The IdP's next attempt gets the existing account.
        status, user = self.server.scim("POST", "/Users", self.server.first_token, okta_user("kim.park@example.com"))
        self.assertEqual(status, 201, user)
        self.assertEqual(user["userName"], "kim.park@example.com")

    def test_4_a_soft_deleted_user_is_restored(self):
        settings = "/admin/tenants/default/settings"
        self.open(settings)
        self.assertEqual(self.heading(), "Settings · default")
        Select(self.driver.find_element(By.ID, "delete_mode")).select_by_value("soft")
        retention = self.driver.find_element(By.ID, "retention_days")
        retention.clear()
        retention.send_keys("14")
        self.click_button("Save settings")
        self.assertEqual(self.driver.find_element(By.ID, "retention_days").get_attribute("value"), "14")
        self.screenshot("settings")

        token = self.server.first_token
        status, user = self.server.scim("POST", "/Users", token, okta_user("lee.chan@example.com"))
        self.assertEqual(status, 201, user)
        self.assertEqual(self.server.scim("DELETE", f"/Users/{user['id']}", token)[0], 204)
        self.assertEqual(self.server.scim("GET", f"/Users/{user['id']}", token)[0], 404)
        self.open("/admin/tenants/default/review")
        self.click_button("Restore lee.chan@example.com")
        self.assertNotIn("Restore lee.chan@example.com", self.driver.page_source)
        status, back = self.server.scim("GET", f"/Users/{user['id']}", token)
        self.assertEqual((status, back.get("userName")), (200, "lee.chan@example.com"))

    def test_5_a_failed_request_is_found_in_the_provisioning_log(self):
        token = self.server.first_token
        bad = okta_user("no.name@example.com")
        del bad["userName"]
        status, error = self.server.scim("POST", "/Users", token, bad)
        self.assertEqual(status, 400, error)
        log = "/admin/tenants/default/log"

        def listed():
            self.open(log)
            self.driver.find_element(By.ID, "f-errors").click()
            self.click_button("Show")
            rows = self.driver.find_elements(By.CSS_SELECTOR, "tbody tr")
            return rows and "400" in rows[0].text and rows

        rows = poll(listed, 15, "the failed request in the log")
        # Only errors are listed.
        self.assertTrue(all(re.search(r"\b[45]\d\d\b", row.text) for row in rows), [r.text for r in rows])
        self.screenshot("log")
        self.navigating(rows[0].find_element(By.TAG_NAME, "a").click)
        detail = self.page_text()
        self.assertIn(error["scimType"], detail)
        self.assertIn("POST", detail)
        self.assertIn("/scim/v2/Users", detail)
        self.screenshot("log-record")

    def test_6_a_token_is_made_with_the_keyboard_alone(self):
        self.open("/admin/tenants/default/tokens")
        body = self.driver.find_element(By.TAG_NAME, "body")
        body.send_keys(Keys.TAB)
        for _ in range(20):
            if self.driver.switch_to.active_element.get_attribute("id") == "token-name":
                break
            self.driver.switch_to.active_element.send_keys(Keys.TAB)
        else:
            self.fail("Tab never reached the token name field")
        field = self.driver.switch_to.active_element
        self.navigating(lambda: field.send_keys("SailPoint", Keys.ENTER))
        self.assertRegex(self.driver.find_element(By.ID, "new-token").get_attribute("value"), r"^SCIM_")

    def token_row(self, name: str):
        return self.driver.find_element(By.XPATH, f"//tr[td[normalize-space()='{name}']]")


class Documentation(unittest.TestCase):
    def test_every_screenshot_docs_console_shows_is_kept(self):
        text = (ROOT / "docs" / "console.md").read_text()
        shown = re.findall(r"\(console/(console-[a-z-]+\.png)\)", text)
        self.assertGreaterEqual(len(shown), 8)
        for name in shown:
            path = ROOT / "docs" / "console" / name
            self.assertEqual(path.read_bytes()[:8], PNG_SIGNATURE, path)


class OidcOperators(BrowserTest):
    """Sign-in through Canaille on 127.0.0.1, the console verifying the ID token itself."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        port = free_port()
        cls.provider, cls.details = start_provider(f"http://127.0.0.1:{port}/admin/callback")
        cls.addClassCleanup(lambda: stop_process(cls.provider))
        status, discovery = http_json(cls.details["issuer"] + "/.well-known/openid-configuration")
        assert status == 200, status
        cls.end_session = discovery["end_session_endpoint"]
        cls.server = LocalServer(
            port,
            cls.directory,
            {
                "SCIM_CONSOLE_OIDC_ISSUER": cls.details["issuer"],
                "SCIM_CONSOLE_OIDC_CLIENT_ID": cls.details["client_id"],
                "SCIM_CONSOLE_OIDC_CLIENT_SECRET": cls.details["client_secret"],
                "SCIM_CONSOLE_GROUPS_CLAIM": cls.details["groups_claim"],
                # Cognito's /logout in AWS; the provider's own sign-out endpoint here.
                "SCIM_CONSOLE_OIDC_LOGOUT_URL": cls.end_session,
            },
        )
        cls.addClassCleanup(cls.server.stop)
        # Two more tenants, as `scimctl token create` would make them.
        for tenant in ("acme", "globex"):
            subprocess.run(
                [
                    "cargo", "run", "--quiet", "--bin", "scimctl", "--", "token", "--registry",
                    f"file:{cls.directory / 'tokens.json'}", "create", "--name", f"{tenant} IdP",
                    "--tenant", tenant, "--expires", "30d",
                ],
                cwd=ROOT, check=True, timeout=BUILD_SECONDS, capture_output=True,
            )

    def sign_in(self, user_name: str):
        driver = self.driver
        driver.delete_all_cookies()
        self.open("/admin/")
        login = self.wait.until(expected_conditions.element_to_be_clickable((By.NAME, "login")))
        self.assertTrue(driver.current_url.startswith(self.details["issuer"]), driver.current_url)
        login.send_keys(user_name)
        login.submit()
        password = self.wait.until(expected_conditions.element_to_be_clickable((By.NAME, "password")))
        password.send_keys(self.details["users"][user_name]["password"])
        password.submit()
        self.wait.until(lambda d: d.current_url.startswith(self.server.origin))

    def test_a_tenant_operator_sees_only_their_tenant(self):
        self.sign_in("acme-admin")
        self.wait.until(lambda d: self.heading() == "Overview")
        text = self.page_text()
        self.assertIn("acme-admin", text.replace("\n", " "))
        cards = [h.text for h in self.driver.find_elements(By.CSS_SELECTOR, ".card h2")]
        self.assertEqual(cards, ["acme"])
        self.open("/admin/tenants/acme/tokens")
        self.assertIn("acme IdP", self.page_text())
        self.assertNotIn("globex", self.page_text())
        for page in ("tokens", "review", "settings", "log"):
            self.open(f"/admin/tenants/globex/{page}")
            self.assertEqual(self.heading(), "Not found", page)
        self.open("/admin/switch?tenant=globex&section=tokens")
        self.assertEqual(self.heading(), "Not found")

    def test_an_account_in_no_console_group_is_refused(self):
        self.sign_in("nobody")
        self.assertEqual(self.heading(), "Sign-in refused")
        self.assertIn("in no console group", self.page_text())
        self.assertNotIn("scim_console", [c["name"] for c in self.driver.get_cookies()])

    def test_a_global_operator_sees_every_tenant(self):
        self.sign_in("operator")
        self.wait.until(lambda d: self.heading() == "Overview")
        cards = sorted(h.text for h in self.driver.find_elements(By.CSS_SELECTOR, ".card h2"))
        self.assertEqual(cards, ["acme", "default", "globex"])
        # Signing out goes on to the provider's sign-out, and the console's session is gone.
        self.driver.find_element(By.XPATH, "//button[normalize-space()='Sign out']").click()
        self.wait.until(lambda d: d.current_url.startswith(self.end_session))
        self.assertNotIn("scim_console", [c["name"] for c in self.driver.get_cookies()])


if __name__ == "__main__":
    unittest.main()
