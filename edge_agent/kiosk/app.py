"""The kiosk's web app (Starlette): its routes by concern, behind the access guard (login: ``access.py``).

Customer side: ``/customer`` with ``/events`` (Server-Sent Events of catalogue
keys and steps), ``/preview.mjpg`` (the running session's camera, only to a
page on this device) and ``/speech/<lang>/<key>.wav``. Clerk side:
``/operator`` with ``/api/health``, ``/api/status``, ``/api/start`` and
``/api/cancel``. Everything is served from the package: no external fonts,
scripts or CDNs, and a Content-Security-Policy that allows none.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.types import ASGIApp

from edge_agent.kiosk.access import Guard
from edge_agent.kiosk.agent_link import AgentLink
from edge_agent.kiosk.api import api_routes
from edge_agent.kiosk.idreader import IdReader
from edge_agent.kiosk.pages import page_routes
from edge_agent.kiosk.runner import Runner
from edge_agent.kiosk.settings import SPOKEN_PREFIXES, KioskSettings, is_loopback
from edge_agent.kiosk.speech import Speech
from edge_agent.kiosk.streams import stream_routes

__all__ = ["CSP", "SPOKEN_PREFIXES", "KioskSettings", "build_app", "is_loopback"]

CSP = ("default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; font-src 'self'; frame-ancestors 'none'; form-action 'self'")


def build_app(link: AgentLink, settings: KioskSettings, id_reader: IdReader | None = None,
              runner: Runner | None = None, speech: Speech | None = None) -> ASGIApp:
    """The kiosk's ASGI app: pages (pages.py), streams (streams.py) and the clerk's API (api.py), behind the
    guard that checks Host, Origin and the credential and serves /login (access.py); runner and speech are
    injectable for tests."""
    runner = runner or Runner(link)
    speech = speech or Speech()
    routes = [*page_routes(settings, speech, id_reader), *stream_routes(runner, settings),
              *api_routes(link, runner, settings, id_reader)]
    return Guard(Starlette(routes=routes), settings.token, settings.hosts, settings.secure_cookie,
                 [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                  (b"referrer-policy", b"no-referrer")])
