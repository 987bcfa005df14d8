"""Who may use the kiosk: a per-boot secret, exchanged once for a session cookie, on loopback too.

The agent's socket is 0660 for the terminal group; the kiosk, run by a member of that group, must not hand
the same powers to any local user or web page that reaches its port. So every request but ``/login`` needs
a credential: a session cookie (a random id, never the secret itself: HttpOnly, SameSite=Strict) got by
opening the launch URL ``/login?token=<secret>&next=/customer``, or ``Authorization: Bearer <secret>`` for
scripts. The secret is made at start (or given by the launcher) and written only to the launch file
(0600, or 0640 for a named group), which the kiosk browser's launcher reads. The Host header must be one of
the configured names (a DNS-rebinding page carries its own name) and an Origin, when sent, must be ours.
POSTs also need ``X-Kiosk: 1``, which a page elsewhere cannot send without a CORS preflight.
"""

from __future__ import annotations

import grp
import hmac
import os
import secrets
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edge_agent.atomic import atomic_write
from edge_agent.errors import EdgeAgentError, KioskForbidden, KioskListenError, NotAuthenticated, http_status_of

__all__ = [
    "DEFAULT_HOSTS",
    "SESSION_COOKIE",
    "Guard",
    "allowed_hosts",
    "launch_path",
    "launch_url",
    "local_path",
    "new_secret",
    "refusal",
    "serve",
    "write_launch_file",
]

SESSION_COOKIE = "edge_kiosk_session"
MAX_SESSIONS = 64  # browsers of one kiosk; the oldest is forgotten beyond this
DEFAULT_HOSTS = ("127.0.0.1", "localhost", "::1")
LAUNCH_NAME = "launch-url"


def new_secret() -> str:
    """A per-boot secret: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def allowed_hosts(listen_host: str, port: int, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The Host header values the kiosk answers: each name with the port (bare too on 80/443), first = launch host."""
    names: list[str] = []
    for name in (*extra, *DEFAULT_HOSTS, listen_host):
        name = name.strip().lower().strip("[]")
        if name and name not in ("0.0.0.0", "::") and name not in names:
            names.append(name)
    hosts: list[str] = []
    for name in names:
        shown = f"[{name}]" if ":" in name else name
        hosts.append(f"{shown}:{port}")
        if port in (80, 443):
            hosts.append(shown)
    return tuple(hosts)


def local_path(target: str, default: str = "/operator") -> str:
    """``target`` if it is a path on this site (``/x``), else ``default``: ``//evil``, ``/\\evil``, URLs refused."""
    if (not target.startswith("/") or target.startswith("//") or "\\" in target
            or any(ord(c) < 0x21 or ord(c) == 0x7F for c in target)):
        return default
    parts = urlsplit(target)
    return default if parts.scheme or parts.netloc else target


def launch_url(secret: str, host: str, tls: bool, next_path: str = "/customer") -> str:
    """The URL the kiosk browser opens once: it trades the secret for a session cookie."""
    return f"{'https' if tls else 'http'}://{host}/login?token={quote(secret, safe='')}&next={next_path}"


def launch_path(given: Path | None) -> Path:
    """Where the launch URL is written: --launch-file, systemd's RuntimeDirectory, or the user's runtime folder."""
    if given is not None:
        return given
    for base, sub in ((os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0], ""),
                      (os.environ.get("XDG_RUNTIME_DIR", ""), "edge-agent-kiosk")):
        if base:
            return Path(base) / sub / LAUNCH_NAME if sub else Path(base) / LAUNCH_NAME
    raise KioskListenError("no runtime folder for the kiosk's launch URL (RUNTIME_DIRECTORY, XDG_RUNTIME_DIR): "
                           "give --launch-file PATH")


def write_launch_file(path: Path, url: str, group: str = "") -> None:
    """The launch URL, one line, readable by the kiosk's user only (and ``group`` if given); folder made private."""
    try:
        gid = grp.getgrnam(group).gr_gid if group else -1
    except KeyError:
        raise KioskListenError(f"--launch-group {group!r}: no such group") from None
    try:
        if not path.parent.exists():
            path.parent.mkdir(mode=0o750 if group else 0o700, parents=True)
            if group:
                os.chown(path.parent, -1, gid)
        atomic_write(path, (url + "\n").encode(), mode=0o640 if group else 0o600)
        if group:
            os.chown(path, -1, gid)
    except OSError as exc:
        raise KioskListenError(f"cannot write the launch URL to {path}: {exc.strerror}") from None


def serve(server: Any, launch: Path) -> None:
    """Run the uvicorn ``server``; the launch file goes when it stops (uvicorn re-raises SIGTERM after its exit)."""
    capture = server.capture_signals

    @contextmanager
    def capture_then_forget() -> Iterator[None]:
        with capture():
            try:
                yield
            finally:
                launch.unlink(missing_ok=True)

    server.capture_signals = capture_then_forget
    try:
        server.run()
    finally:
        launch.unlink(missing_ok=True)


def refusal(exc: EdgeAgentError) -> JSONResponse:
    """An error as the kiosk answers it: ``{"error": code, "message": ...}`` with its base's HTTP status."""
    return JSONResponse({"error": exc.code, "message": str(exc)}, status_code=http_status_of(exc),
                        headers={"Cache-Control": "no-store"})


def _wrong_host() -> Response:
    # 421 Misdirected Request is HTTP's own answer to a Host this server is not (DNS rebinding): no error of the
    # table, as no request with a foreign Host gets as far as a route.
    return JSONResponse({"error": "kiosk_host", "message": "this kiosk answers only to its own host names"},
                        status_code=421, headers={"Cache-Control": "no-store"})


class Guard:
    """Checks Host, Origin and the credential before any route; adds the security headers to every answer."""

    def __init__(self, app: ASGIApp, secret: str, hosts: tuple[str, ...], tls: bool,
                 headers: list[tuple[bytes, bytes]]) -> None:
        self.app, self.secret, self.tls, self.headers = app, secret, tls, headers
        self.hosts = frozenset(h.lower() for h in hosts)
        scheme = "https" if tls else "http"
        self.origins = frozenset(f"{scheme}://{h}" for h in self.hosts)
        self.sessions: OrderedDict[str, None] = OrderedDict()

    def _login(self, request: Request) -> Response:
        given = request.query_params.get("token", "")
        if request.method != "GET" or not self.secret or not hmac.compare_digest(given.encode(),
                                                                                 self.secret.encode()):
            return refusal(NotAuthenticated("this kiosk opens only from its launch URL", code="kiosk_auth"))
        session = secrets.token_urlsafe(32)
        self.sessions[session] = None
        while len(self.sessions) > MAX_SESSIONS:
            self.sessions.popitem(last=False)
        response = RedirectResponse(local_path(request.query_params.get("next", "")), status_code=303,
                                    headers={"Cache-Control": "no-store"})
        response.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="strict", secure=self.tls, path="/")
        return response

    def _authorised(self, request: Request) -> bool:
        bearer = request.headers.get("authorization", "")
        if bearer.startswith("Bearer ") and self.secret:
            return hmac.compare_digest(bearer.removeprefix("Bearer ").encode(), self.secret.encode())
        session = request.cookies.get(SESSION_COOKIE, "")
        return bool(session) and any(hmac.compare_digest(session, s) for s in self.sessions)

    def check(self, request: Request) -> Response | None:
        """The refusal for ``request``, or None when it may go on (the login answer is a 'refusal' too)."""
        if request.headers.get("host", "").lower() not in self.hosts:
            return _wrong_host()
        origin = request.headers.get("origin")
        if origin is not None and origin.lower() not in self.origins:
            return refusal(KioskForbidden("requests from another site are refused", code="kiosk_origin"))
        if request.url.path == "/login":
            return self._login(request)
        if not self._authorised(request):
            return refusal(NotAuthenticated("this kiosk needs its credential: open its launch URL", code="kiosk_auth"))
        if request.method not in ("GET", "HEAD") and request.headers.get("x-kiosk") != "1":
            return refusal(KioskForbidden("POST needs the X-Kiosk: 1 header", code="kiosk_csrf"))
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1008})
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self.headers]}
            await send(message)

        refusal = self.check(Request(scope))
        if refusal is not None:
            await refusal(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)
