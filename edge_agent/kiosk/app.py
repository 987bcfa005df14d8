"""The kiosk's web app (Starlette): two pages, their static files, and the JSON/stream endpoints they use.

Customer side: ``/customer`` with ``/events`` (Server-Sent Events of catalogue
keys and steps), ``/preview.mjpg`` (the running session's camera, only to a
page on this device) and ``/speech/<lang>/<key>.wav``. Clerk side:
``/operator`` with ``/api/health``, ``/api/status``, ``/api/start`` and
``/api/cancel``. Everything is served from the package: no external fonts,
scripts or CDNs, and a Content-Security-Policy that allows none.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from edge_agent.errors import BadInput, CatalogError, EdgeAgentError, KioskForbidden, KioskNotFound
from edge_agent.kiosk.access import Guard, allowed_hosts, refusal
from edge_agent.kiosk.agent_link import AgentLink
from edge_agent.kiosk.catalog import DEFAULT_LANGUAGE, LANGUAGES, catalog
from edge_agent.kiosk.health import health_view
from edge_agent.kiosk.idreader import IdReader
from edge_agent.kiosk.runner import Runner
from edge_agent.kiosk.speech import Speech

__all__ = ["SPOKEN_PREFIXES", "KioskSettings", "build_app", "is_loopback"]

MAX_PHOTO_BYTES = 8 * 1024 * 1024
SPOKEN_PREFIXES = ("prompt.", "hint.", "progress.", "result.", "customer.welcome", "customer.preparing")
CSP = ("default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; font-src 'self'; frame-ancestors 'none'; form-action 'self'")


@dataclass(frozen=True)
class KioskSettings:
    """How the kiosk was started: language, speech, preview, and its access secret and host names (access.py)."""

    lang: str = DEFAULT_LANGUAGE
    speech: bool = True
    preview: bool = True
    token: str = ""  # the launch secret: every request needs it or a session got with it; empty = all refused
    secure_cookie: bool = False
    hosts: tuple[str, ...] = allowed_hosts("127.0.0.1", 8080)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine, the only place the camera preview may be shown."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _static() -> StaticFiles:
    return StaticFiles(packages=[("edge_agent.kiosk", "static")])


def _page(name: str) -> FileResponse:
    from importlib import resources

    path = resources.files("edge_agent.kiosk").joinpath("static", name)
    return FileResponse(str(path), media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-store"})


def build_app(link: AgentLink, settings: KioskSettings, id_reader: IdReader | None = None,
              runner: Runner | None = None, speech: Speech | None = None) -> ASGIApp:
    """The kiosk's ASGI app, its routes behind the guard; runner and speech are injectable for tests."""
    runner = runner or Runner(link)
    speech = speech or Speech()

    async def customer(request: Request) -> Response:
        return _page("customer.html")

    async def operator(request: Request) -> Response:
        return _page("operator.html")

    async def config(request: Request) -> Response:
        return JSONResponse({"lang": settings.lang, "languages": list(LANGUAGES), "speech": settings.speech,
                             "speech_available": speech.available, "preview": settings.preview,
                             "id_reader": id_reader is not None})

    async def i18n(request: Request) -> Response:
        try:
            return JSONResponse(catalog(request.path_params["lang"]))
        except CatalogError as exc:  # a language the kiosk does not ship: no such page
            return refusal(KioskNotFound(str(exc), code=exc.code))

    async def spoken(request: Request) -> Response:
        lang, key = request.path_params["lang"], request.path_params["key"]
        try:
            text = catalog(lang).get(key) if key.startswith(SPOKEN_PREFIXES) else None
            if text is None:
                return refusal(KioskNotFound(f"no spoken text {key!r}", code="kiosk_speech_key"))
            wav = await asyncio.to_thread(speech.wav, lang, text)
        except CatalogError as exc:
            return refusal(KioskNotFound(str(exc), code=exc.code))
        except EdgeAgentError as exc:
            return refusal(exc)
        return Response(wav, media_type="audio/wav", headers={"Cache-Control": "private, max-age=3600"})

    async def events(request: Request) -> Response:
        queue = runner.events.subscribe()

        async def stream() -> AsyncIterator[str]:
            try:
                yield f"data: {json.dumps(runner.current())}\n\n"
                while True:
                    try:
                        event = await asyncio.wait_for(queue.get(), timeout=15)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    yield f"data: {json.dumps(event)}\n\n"
            finally:
                runner.events.unsubscribe(queue)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def preview(request: Request) -> Response:
        client = request.client.host if request.client else ""
        if not settings.preview or not is_loopback(client):
            return refusal(KioskForbidden("the camera preview is shown only on this device's own screen",
                                          code="kiosk_preview_local"))
        queue = runner.frames.subscribe()

        async def stream() -> AsyncIterator[bytes]:
            try:
                deadline = time.monotonic() + 10
                while True:
                    try:
                        jpeg = await asyncio.wait_for(queue.get(), timeout=max(0.1, deadline - time.monotonic()))
                    except TimeoutError:
                        if runner.status()["state"] != "running":
                            return
                        deadline = time.monotonic() + 10
                        continue
                    if jpeg is None:
                        return
                    yield (b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: " + str(len(jpeg)).encode()
                           + b"\r\n\r\n" + jpeg + b"\r\n")
            finally:
                runner.frames.unsubscribe(queue)

        return StreamingResponse(stream(), media_type="multipart/x-mixed-replace; boundary=frame",
                                 headers={"Cache-Control": "no-store"})

    async def api_health(request: Request) -> Response:
        try:
            h = await asyncio.to_thread(link.health)
        except EdgeAgentError as exc:
            return JSONResponse({"reachable": False, "error": exc.code, "message": str(exc)})
        return JSONResponse(health_view(h))

    async def api_status(request: Request) -> Response:
        status = runner.status()
        if status.get("state") == "finished":
            try:
                r = await asyncio.to_thread(link.result, str(status["txn"]), runner.result_token())
                status["carrier"] = {"state": r.state, "receipt_id": r.receipt_id or None,
                                     "last_error": r.last_error or None}
            except EdgeAgentError as exc:
                status["carrier"] = {"state": "unknown", "last_error": f"{exc.code}: {exc}"}
        return JSONResponse(status, headers={"Cache-Control": "no-store"})

    async def api_start(request: Request) -> Response:
        txn = request.query_params.get("txn", "")
        source = request.query_params.get("source", "upload")
        try:
            if source == "id_reader":
                if id_reader is None:
                    raise BadInput("no ID reader is configured on this kiosk (--id-reader)")
                photo = await asyncio.to_thread(id_reader.read_photo)
            elif source == "upload":
                photo = b""
                async for chunk in request.stream():
                    photo += chunk
                    if len(photo) > MAX_PHOTO_BYTES:
                        raise BadInput(f"the reference photo is larger than {MAX_PHOTO_BYTES // 1024 // 1024} MB")
            else:
                raise BadInput(f"unknown photo source {source!r}: upload or id_reader")
            runner.start(txn, photo, preview=settings.preview)
        except EdgeAgentError as exc:  # BadInput 400, KioskBusy 409
            return refusal(exc)
        return JSONResponse({"state": "running", "txn": txn}, status_code=202)

    async def api_cancel(request: Request) -> Response:
        try:
            cancelled = await asyncio.to_thread(runner.cancel)
        except EdgeAgentError as exc:
            return refusal(exc)
        return JSONResponse({"cancelled": cancelled})

    async def root(request: Request) -> Response:
        return RedirectResponse("/customer")

    routes = [
        Route("/", root),
        Route("/customer", customer),
        Route("/operator", operator),
        Route("/config.json", config),
        Route("/i18n/{lang}.json", i18n),
        Route("/speech/{lang}/{key}.wav", spoken),
        Route("/events", events),
        Route("/preview.mjpg", preview),
        Route("/api/health", api_health),
        Route("/api/status", api_status),
        Route("/api/start", api_start, methods=["POST"]),
        Route("/api/cancel", api_cancel, methods=["POST"]),
        Mount("/static", app=_static(), name="static"),
    ]
    return Guard(Starlette(routes=routes), settings.token, settings.hosts, settings.secure_cookie,
                 [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                  (b"referrer-policy", b"no-referrer")])
