"""A local LTI 1.3 platform (a stand-in LMS) for the tests: its own RSA key, a JWKS, an OIDC auth endpoint.

It runs a tiny HTTP server on 127.0.0.1 in a thread. ``/jwks`` serves its public key; ``/auth``
answers the tool's OIDC redirect the way a real LMS does, with an auto-submitting form that posts
``id_token`` and ``state`` to the tool's redirect URI; ``/course`` is a course page that embeds the
tool in an iframe and starts the launch there. ``/token`` and ``/scores`` are for grade passback
(AGS): they record every request they receive in ``received``.
"""

from __future__ import annotations

import html
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
AGS = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
TEACHING_ASSISTANT = "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"


def new_key():
    """A fresh RSA private key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Platform:
    """The stand-in LMS; use as a context manager (``with Platform() as lms:``)."""

    def __init__(self, client_id: str = "hq-client", deployment_id: str = "dep-1", host: str = "127.0.0.1") -> None:
        self.key = new_key()
        self.kid = "platform-key-1"
        self.client_id = client_id
        self.deployment_id = deployment_id
        self.host = host
        #: Requests to /token and /scores: (path, headers, body).
        self.received: list[tuple[str, dict, str]] = []
        #: What /scores answers: 200, or e.g. 503 to play a gradebook that is down.
        self.scores_status = 200
        #: Where /course's iframe starts the launch (the tool's OIDC login URL), set by the browser test.
        self.tool_login_url = ""
        self.server = ThreadingHTTPServer((host, 0), _handler(self))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.server.server_address[1]}"

    @property
    def issuer(self) -> str:
        return self.url

    def __enter__(self) -> "Platform":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def registration(self) -> dict[str, object]:
        """What an instructor enters for this platform (the keys of the registration form and CLI)."""
        return {"issuer": self.issuer, "client_id": self.client_id, "deployment_ids": self.deployment_id,
                "auth_login_url": self.url + "/auth", "auth_token_url": self.url + "/token",
                "key_set_url": self.url + "/jwks", "name": "Test LMS"}

    def jwks(self) -> dict:
        """The platform's public key set."""
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

    def claims(self, nonce: str, sub: str = "student-1", roles: list[str] | None = None, context_id: str = "course-1",
               context_title: str = "CS231n", name: str = "Ada Lovelace", lifetime: int = 300,
               target_link_uri: str = "https://tool.invalid/lti/launch") -> dict:
        """Every claim a resource link launch needs, plus the AGS endpoint claim."""
        now = int(time.time())
        return {
            "iss": self.issuer, "aud": self.client_id, "azp": self.client_id, "sub": sub,
            "iat": now - 5, "exp": now + lifetime, "nonce": nonce,
            "name": name, "given_name": name.split(" ")[0], "family_name": name.split(" ")[-1],
            CLAIM + "deployment_id": self.deployment_id,
            CLAIM + "message_type": "LtiResourceLinkRequest",
            CLAIM + "version": "1.3.0",
            CLAIM + "target_link_uri": target_link_uri,
            CLAIM + "resource_link": {"id": "resource-1", "title": "HyperQuest"},
            CLAIM + "roles": roles if roles is not None else [LEARNER],
            CLAIM + "context": {"id": context_id, "label": context_title, "title": context_title,
                                "type": ["http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"]},
            AGS: {"scope": ["https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
                            "https://purl.imsglobal.org/spec/lti-ags/scope/score"],
                  "lineitems": f"{self.url}/scores/{context_id}/lineitems",
                  "lineitem": f"{self.url}/scores/{context_id}/lineitems/1"},
        }

    def sign(self, claims: dict, key=None, kid: str | None = None) -> str:
        """``claims`` as an id_token signed with the platform's key (or ``key``)."""
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid})

    def launch_form(self, redirect_uri: str, state: str, id_token: str) -> str:
        """The auto-submitting form a platform answers the OIDC auth request with."""
        return ("<!doctype html><html><body><form id=f method=post action=\"" + html.escape(redirect_uri) + "\">"
                f"<input type=hidden name=id_token value=\"{html.escape(id_token)}\">"
                f"<input type=hidden name=state value=\"{html.escape(state)}\"></form>"
                "<script>document.getElementById('f').submit()</script></body></html>")

    def course_page(self, login_hint: str) -> str:
        """A course page embedding the tool; the iframe's form auto-posts the OIDC login initiation."""
        fields = {"iss": self.issuer, "login_hint": login_hint, "target_link_uri": self.tool_login_url.replace(
            "/lti/login", "/lti/launch"), "lti_message_hint": "course-1", "client_id": self.client_id,
            "lti_deployment_id": self.deployment_id}
        inputs = "".join(f"<input type=hidden name={k} value=\"{html.escape(v)}\">" for k, v in fields.items())
        start = ("<!doctype html><html><body><form id=f method=post action=\"" + html.escape(self.tool_login_url)
                 + f"\">{inputs}</form><script>document.getElementById('f').submit()</script></body></html>")
        return ("<!doctype html><html><head><title>CS231n · Test LMS</title><style>body{font-family:sans-serif;margin:0}"
                "header{background:#1f2937;color:#fff;padding:12px 20px}iframe{border:0;width:100%;height:680px}</style>"
                "</head><body><header>Test LMS · CS231n · Assignment: HyperQuest</header>"
                f"<iframe id=tool title=HyperQuest srcdoc=\"{html.escape(start)}\"></iframe></body></html>")


def _handler(platform: Platform):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet test output
            pass

        def _send(self, status: int, body: str, content_type: str = "text/html; charset=utf-8") -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if parts.path == "/jwks":
                self._send(200, json.dumps(platform.jwks()), "application/json")
            elif parts.path == "/auth":  # the OIDC authentication request, answered as an LMS does
                hint = query.get("login_hint", "student-1")
                roles = [INSTRUCTOR] if hint.startswith("teacher") else [LEARNER]
                claims = platform.claims(query.get("nonce", ""), sub=hint, roles=roles,
                                         context_id=query.get("lti_message_hint", "course-1"))
                self._send(200, platform.launch_form(query["redirect_uri"], query.get("state", ""), platform.sign(claims)))
            elif parts.path == "/course":
                self._send(200, platform.course_page(query.get("user", "student-1")))
            else:
                self._send(404, "not found")

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            platform.received.append((self.path, dict(self.headers), body))
            if self.path == "/token":  # AGS: the client-credentials grant
                self._send(200, json.dumps({"access_token": "token-" + uuid.uuid4().hex, "token_type": "Bearer",
                                            "expires_in": 3600}), "application/json")
            elif self.path.startswith("/scores/"):  # AGS: a score post, recorded in ``received``
                self._send(platform.scores_status, "{}", "application/json")
            else:
                self._send(404, "not found")

    return Handler


def login_query(platform: Platform, login_hint: str = "student-1", context: str = "course-1") -> dict[str, str]:
    """The OIDC login initiation parameters the platform sends the tool."""
    return {"iss": platform.issuer, "login_hint": login_hint, "target_link_uri": "https://testserver/lti/launch",
            "lti_message_hint": context, "client_id": platform.client_id, "lti_deployment_id": platform.deployment_id}


def auth_params(location: str) -> dict[str, str]:
    """The parameters of the tool's redirect to the platform's auth endpoint."""
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
