"""A real OpenID Connect provider on 127.0.0.1 for the console's sign-in tests: Canaille.

    .venv/bin/python tests/console/oidc_provider.py --redirect-uri http://127.0.0.1:8080/admin/callback

Stands in for the Amazon Cognito user pool the console signs operators in with: a confidential
client (client_secret_basic, authorization code, PKCE accepted), operators with passwords, and
groups that play the Cognito groups' part: `scim-operators` grants every tenant,
`scim-tenant-<tenant>` grants one. Canaille puts a user's groups into the ID token as the
`groups` claim (a list of group names) when the `groups` scope is asked for; Cognito's ID token
carries them as `cognito:groups` without a scope. The console reads the claim whose name it is
configured with.

When it answers `/.well-known/openid-configuration` it prints one JSON line on stdout (issuer,
client_id, client_secret, redirect_uris, scope, groups_claim, and each user's password and
groups) and serves until SIGTERM or SIGINT, then exits 0. Users, clients and keys live in memory
and are new at each start.
"""

import argparse
import json
import logging
import os
import secrets
import signal
import socketserver
import sys
import threading
import urllib.request
from datetime import UTC, datetime
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

# Canaille's OAuth library (Authlib) refuses plain http unless told otherwise; the provider only
# ever listens on 127.0.0.1.
os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")

from canaille import create_app  # noqa: E402
from canaille.app import models  # noqa: E402
from canaille.backends import Backend  # noqa: E402
from joserfc.jwk import RSAKey  # noqa: E402

CLIENT_ID = "scim-console"
GROUPS_CLAIM = "groups"
SCOPE = ["openid", "profile", "email", "groups"]
# user name -> the groups it belongs to. `nobody` signs in but is in no console group.
USERS = {
    "operator": ["scim-operators"],
    "acme-admin": ["scim-tenant-acme"],
    "globex-admin": ["scim-tenant-globex"],
    "nobody": [],
}
# How long the provider may take to answer its own discovery document before it gives up.
READY_TIMEOUT_SECONDS = 20


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    """One thread a connection: Chromium opens speculative connections that it may leave idle,
    and a one-connection-at-a-time server would wait on them while the real request queues."""

    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        if os.environ.get("OIDC_PROVIDER_ACCESS_LOG"):
            super().log_message(format, *args)


def config(issuer_host: str) -> dict:
    # Cognito signs ID tokens with RS256 and so does this provider: without an `alg` on the key,
    # Canaille picks the strongest algorithm the key allows (RS512).
    key = RSAKey.generate_key(2048, parameters={"alg": "RS256", "use": "sig"})
    key.ensure_kid()
    return {
        "SECRET_KEY": secrets.token_hex(32),
        "SERVER_NAME": issuer_host,
        "PREFERRED_URL_SCHEME": "http",
        "SESSION_COOKIE_SECURE": False,
        # Cookies are per host, not per port: on 127.0.0.1 the provider's session cookie and the
        # console's share one jar, so the provider's must not be called Flask's default `session`.
        "SESSION_COOKIE_NAME": "oidc_provider_session",
        "CANAILLE": {
            "NAME": "Test identity provider",
            "DATABASE": "memory",
            "JAVASCRIPT": False,
            "ACL": {"DEFAULT": {"PERMISSIONS": ["use_oidc"]}},
            "LOGGING": {
                "version": 1,
                "disable_existing_loggers": False,
                "handlers": {
                    "stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}
                },
                "loggers": {"canaille": {"level": "WARNING", "handlers": ["stderr"]}},
            },
        },
        "CANAILLE_OIDC": {"ACTIVE_JWKS": [key.as_dict(private=True)]},
    }


def populate(app, issuer: str, redirect_uris: list[str]) -> dict:
    """Create the client, the users and their groups; return what a test needs to know."""
    backend = Backend.instance
    client_secret = secrets.token_urlsafe(24)
    users = {}
    with app.app_context():
        client = models.Client(
            client_id=CLIENT_ID,
            client_secret=client_secret,
            client_id_issued_at=datetime.now(UTC),
            client_name="SCIM console",
            # A client_uri under a trusted domain (127.0.0.1) skips the consent page, as Cognito's
            # hosted sign-in has none.
            client_uri=issuer,
            redirect_uris=redirect_uris,
            grant_types=["authorization_code"],
            response_types=["code"],
            scope=SCOPE,
            token_endpoint_auth_method="client_secret_basic",
        )
        backend.save(client)
        client.audience = [client]
        backend.save(client)

        members: dict[str, list] = {}
        for user_name, groups in USERS.items():
            password = secrets.token_urlsafe(16)
            user = models.User(
                user_name=user_name,
                formatted_name=user_name,
                emails=[f"{user_name}@example.test"],
                password=password,
            )
            backend.save(user)
            users[user_name] = {"password": password, "groups": groups}
            for group in groups:
                members.setdefault(group, []).append(user)
        for group, group_members in members.items():
            backend.save(models.Group(display_name=group, members=group_members))

    return {
        "issuer": issuer,
        "client_id": CLIENT_ID,
        "client_secret": client_secret,
        "redirect_uris": redirect_uris,
        "scope": " ".join(SCOPE),
        "groups_claim": GROUPS_CLAIM,
        "users": users,
    }


def wait_until_ready(issuer: str) -> None:
    url = f"{issuer}/.well-known/openid-configuration"
    with urllib.request.urlopen(url, timeout=READY_TIMEOUT_SECONDS) as response:
        discovery = json.load(response)
    if discovery.get("issuer") != issuer:
        raise RuntimeError(f"discovery names issuer {discovery.get('issuer')!r}, not {issuer!r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--redirect-uri",
        action="append",
        required=True,
        help="a redirect URI the client may use (repeatable)",
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    args = parser.parse_args()

    # Bind first so that the issuer (which Canaille derives from SERVER_NAME) names the real port.
    httpd = make_server(
        "127.0.0.1",
        args.port,
        lambda environ, start_response: [],
        server_class=ThreadingWSGIServer,
        handler_class=QuietHandler,
    )
    issuer_host = f"127.0.0.1:{httpd.server_port}"
    issuer = f"http://{issuer_host}"
    app = create_app(config=config(issuer_host))
    httpd.set_app(app)
    details = populate(app, issuer, args.redirect_uri)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    serving = threading.Thread(target=httpd.serve_forever, name="oidc-provider", daemon=True)
    serving.start()
    try:
        wait_until_ready(issuer)
        print(json.dumps(details), flush=True)
        stop.wait()
    finally:
        httpd.shutdown()
        httpd.server_close()
        serving.join(timeout=5)
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    sys.exit(main())
