"""The console's test infrastructure, proven end to end before the console exists.

    make tools browser-deps
    .venv/bin/python -m unittest discover -s tests/console -v

CONSOLE_SCREENSHOTS=<dir> keeps the screenshots there (else they go to a temporary directory that
is removed at the end).

Starts the real OpenID Connect provider (oidc_provider.py, Canaille) on 127.0.0.1, reads its
discovery document and keys, and signs operators in through its own login page in headless
Chromium driven by selenium: the authorization code flow with PKCE (RFC 7636) and a nonce, the
code caught by a small listener on 127.0.0.1 standing where the console's callback will be, the
code exchanged at the token endpoint, and the ID token verified against the provider's JWKS the
way the console has to (signature, issuer, audience, expiry, nonce, groups).

Every wait is bounded; every address is 127.0.0.1.
"""

import base64
import hashlib
import http.server
import json
import os
import queue
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet, RSAKey
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

HERE = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Bounds on every wait: the provider's start (Canaille imports take a few seconds on a busy
# 2-core machine), one page or element, and one HTTP call.
PROVIDER_START_SECONDS = 60
PAGE_SECONDS = 30
HTTP_SECONDS = 10
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class CallbackListener:
    """Where the console's /admin/callback will be: records the query of each request to
    /callback (the code, state and iss the provider redirects with) and answers a small page."""

    def __init__(self):
        self.received = queue.Queue()
        received = self.received

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                url = urllib.parse.urlsplit(self.path)
                if url.path == "/callback":
                    received.put(dict(urllib.parse.parse_qsl(url.query)))
                body = b"<!doctype html><title>callback</title><p id=done>received</p>"
                self.send_response(200 if url.path == "/callback" else 404)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format, *args):  # noqa: A002 - the base class's signature
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.redirect_uri = f"http://127.0.0.1:{self.httpd.server_port}/callback"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def next_callback(self) -> dict:
        return self.received.get(timeout=PAGE_SECONDS)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def start_provider(redirect_uri: str) -> tuple[subprocess.Popen, dict]:
    """Start oidc_provider.py and return it with the JSON line it prints when ready."""
    process = subprocess.Popen(
        [sys.executable, str(HERE / "oidc_provider.py"), "--redirect-uri", redirect_uri],
        stdout=subprocess.PIPE,
        text=True,
    )
    lines = queue.Queue()
    threading.Thread(target=lambda: lines.put(process.stdout.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=PROVIDER_START_SECONDS)
    except queue.Empty:
        stop_process(process)
        raise AssertionError(f"the OIDC provider printed nothing in {PROVIDER_START_SECONDS} s")
    if not line:
        stop_process(process)
        raise AssertionError(f"the OIDC provider exited before it was ready ({process.returncode})")
    return process, json.loads(line)


def stop_process(process: subprocess.Popen) -> int:
    process.terminate()
    try:
        return process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
        raise


def headless_chromium() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    options.add_argument("--headless=new")
    # As root Chromium refuses to start with its sandbox on; the tests run as root in CI.
    options.add_argument("--no-sandbox")
    # /dev/shm is small in containers; Chromium then crashes on larger pages.
    options.add_argument("--disable-dev-shm-usage")
    options.add_argument("--window-size=1280,900")
    # No background traffic: the machine reaches nothing but 127.0.0.1.
    options.add_argument("--no-first-run")
    options.add_argument("--disable-background-networking")
    options.add_argument("--disable-component-update")
    options.add_argument("--disable-sync")
    # The driver is Debian's: Selenium Manager must not look for (download) another one.
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(PAGE_SECONDS)
    driver.set_script_timeout(PAGE_SECONDS)
    return driver


def http_json(url: str, data: dict | None = None, basic: tuple[str, str] | None = None):
    """GET (or POST a form to) url; return (status, JSON body). Error statuses are returned,
    not raised, so a test can assert on a refusal."""
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body)
    if basic:
        pair = ":".join(urllib.parse.quote(part, safe="") for part in basic)
        request.add_header("Authorization", "Basic " + base64.b64encode(pair.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=HTTP_SECONDS) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def pkce_pair() -> tuple[str, str]:
    """RFC 7636 §4.1-4.2: a random verifier and its S256 challenge."""
    verifier = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class ConsoleTestInfrastructure(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for binary in (CHROMIUM, CHROMEDRIVER):
            if not os.access(binary, os.X_OK):
                raise AssertionError(f"{binary} is missing: run `make browser-deps`")
        cls.listener = CallbackListener()
        cls.addClassCleanup(cls.listener.close)
        cls.provider, cls.details = start_provider(cls.listener.redirect_uri)
        cls.addClassCleanup(cls.stop_provider)
        status, cls.discovery = http_json(
            cls.details["issuer"] + "/.well-known/openid-configuration"
        )
        assert status == 200, status
        cls.driver = headless_chromium()
        cls.addClassCleanup(cls.driver.quit)
        if kept := os.environ.get("CONSOLE_SCREENSHOTS"):
            cls.screenshots = Path(kept)
            cls.screenshots.mkdir(parents=True, exist_ok=True)
        else:
            temporary = tempfile.TemporaryDirectory(prefix="console-screenshots-")
            cls.addClassCleanup(temporary.cleanup)
            cls.screenshots = Path(temporary.name)

    @classmethod
    def stop_provider(cls):
        # SIGTERM is a clean stop: exit status 0.
        assert stop_process(cls.provider) == 0, cls.provider.returncode

    def test_discovery_names_the_issuer_its_endpoints_and_keys(self):
        issuer = self.details["issuer"]
        self.assertTrue(issuer.startswith("http://127.0.0.1:"), issuer)
        self.assertEqual(self.discovery["issuer"], issuer)
        for endpoint in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            self.assertTrue(self.discovery[endpoint].startswith(issuer + "/"), endpoint)
        self.assertIn("RS256", self.discovery["id_token_signing_alg_values_supported"])
        self.assertIn("S256", self.discovery["code_challenge_methods_supported"])
        self.assertIn(self.details["groups_claim"], self.discovery["claims_supported"])

        status, jwks = http_json(self.discovery["jwks_uri"])
        self.assertEqual(status, 200)
        self.assertTrue(jwks["keys"], jwks)
        for key in jwks["keys"]:
            self.assertEqual(key["kty"], "RSA")
            self.assertTrue(key["kid"])
            self.assertNotIn("d", key, "a private key in the public JWKS")

    def test_operators_sign_in_with_code_and_pkce_and_their_id_token_carries_their_groups(self):
        # A tenant operator, a global one, and a user in no group: the console tells them apart
        # by the groups claim alone, and must read a missing claim as no group.
        for user_name, groups in (
            ("acme-admin", ["scim-tenant-acme"]),
            ("operator", ["scim-operators"]),
            ("nobody", None),
        ):
            with self.subTest(user=user_name):
                claims = self.sign_in(user_name, screenshot=user_name == "acme-admin")
                self.assertEqual(claims["sub"], user_name)
                self.assertEqual(claims.get(self.details["groups_claim"]), groups)

    def test_the_id_token_verification_refuses_a_token_signed_by_another_key(self):
        verifier, challenge = pkce_pair()
        nonce = secrets.token_urlsafe(16)
        code = self.browser_code_flow("globex-admin", challenge, nonce)
        id_token = self.exchange(code, verifier)["id_token"]
        self.assertEqual(self.verify_id_token(id_token, nonce)["sub"], "globex-admin")
        # The same header and claims, signed by a key the provider never published.
        header, payload, signature = id_token.split(".")
        forged = jwt.encode(
            json.loads(base64.urlsafe_b64decode(header + "==")),
            json.loads(base64.urlsafe_b64decode(payload + "==")),
            RSAKey.generate_key(2048),
        )
        self.assertNotEqual(forged.split(".")[2], signature)
        with self.assertRaises(BadSignatureError):
            jwt.decode(forged, self.provider_keys(), algorithms=["RS256"])

    # --- the flow ---------------------------------------------------------------------------

    def sign_in(self, user_name: str, screenshot: bool = False) -> dict:
        """The whole authorization code flow for one user; returns the verified ID token's
        claims."""
        verifier, challenge = pkce_pair()
        nonce = secrets.token_urlsafe(16)
        code = self.browser_code_flow(user_name, challenge, nonce, screenshot)

        # RFC 7636 §4.6: the provider checks the verifier against the challenge; a wrong one is
        # refused (and the code stays usable for the right one).
        status, refusal = http_json(
            self.discovery["token_endpoint"],
            self.token_request(code, pkce_pair()[0]),
            basic=(self.details["client_id"], self.details["client_secret"]),
        )
        self.assertEqual((status, refusal.get("error")), (400, "invalid_grant"), refusal)

        tokens = self.exchange(code, verifier)
        return self.verify_id_token(tokens["id_token"], nonce)

    def browser_code_flow(
        self, user_name: str, challenge: str, nonce: str, screenshot: bool = False
    ) -> str:
        """Open the authorize URL in Chromium, sign in on the provider's own pages, and return
        the code the provider redirected to the listener with."""
        driver = self.driver
        # The provider and the listener share the host 127.0.0.1, so they share cookies (ports
        # do not separate cookies): clearing them signs the previous user out of the provider.
        driver.delete_all_cookies()
        state = secrets.token_urlsafe(16)
        query = urllib.parse.urlencode(
            {
                "response_type": "code",
                "client_id": self.details["client_id"],
                "redirect_uri": self.listener.redirect_uri,
                "scope": self.details["scope"],
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        driver.get(f"{self.discovery['authorization_endpoint']}?{query}")
        wait = WebDriverWait(driver, PAGE_SECONDS)

        login = wait.until(expected_conditions.element_to_be_clickable((By.NAME, "login")))
        if screenshot:
            path = self.screenshots / "provider-login.png"
            self.assertTrue(driver.save_screenshot(str(path)))
            self.assertEqual(path.read_bytes()[:8], PNG_SIGNATURE, path)
        login.send_keys(user_name)
        login.submit()
        password = wait.until(expected_conditions.element_to_be_clickable((By.NAME, "password")))
        password.send_keys(self.details["users"][user_name]["password"])
        password.submit()

        callback = self.listener.next_callback()
        wait.until(expected_conditions.url_contains(self.listener.redirect_uri))
        self.assertEqual(callback.get("state"), state, callback)
        # RFC 9207: the provider names itself in the redirect.
        self.assertEqual(callback.get("iss"), self.details["issuer"], callback)
        self.assertIn("code", callback)
        return callback["code"]

    def token_request(self, code: str, verifier: str) -> dict:
        return {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.listener.redirect_uri,
            "code_verifier": verifier,
        }

    def exchange(self, code: str, verifier: str) -> dict:
        status, tokens = http_json(
            self.discovery["token_endpoint"],
            self.token_request(code, verifier),
            basic=(self.details["client_id"], self.details["client_secret"]),
        )
        self.assertEqual(status, 200, tokens)
        self.assertEqual(tokens["token_type"].lower(), "bearer")
        return tokens

    def provider_keys(self) -> KeySet:
        status, jwks = http_json(self.discovery["jwks_uri"])
        self.assertEqual(status, 200)
        return KeySet.import_key_set(jwks)

    def verify_id_token(self, id_token: str, nonce: str) -> dict:
        """OpenID Connect Core §3.1.3.7, as the console will do it: RS256 only (the discovery
        also offers `none`, which must never be accepted), signature by a key of the JWKS,
        issuer, audience, expiry and the nonce this sign-in sent."""
        token = jwt.decode(id_token, self.provider_keys(), algorithms=["RS256"])
        self.assertEqual(token.header["alg"], "RS256")
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": self.details["issuer"]},
            aud={"essential": True, "value": self.details["client_id"]},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        ).validate(token.claims)
        now = time.time()
        self.assertGreater(token.claims["exp"], now)
        self.assertLessEqual(token.claims["iat"], now + 60)
        return token.claims


if __name__ == "__main__":
    unittest.main()
