"""The kiosk's pages and what they load: the two HTML pages, static files, settings, texts and spoken texts."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from edge_agent.errors import CatalogError, EdgeAgentError, KioskNotFound
from edge_agent.kiosk.access import refusal
from edge_agent.kiosk.catalog import LANGUAGES, catalog
from edge_agent.kiosk.idreader import IdReader
from edge_agent.kiosk.settings import SPOKEN_PREFIXES, KioskSettings
from edge_agent.kiosk.speech import Speech

__all__ = ["page_routes"]


def _static() -> StaticFiles:
    return StaticFiles(packages=[("edge_agent.kiosk", "static")])


def _page(name: str) -> FileResponse:
    from importlib import resources

    path = resources.files("edge_agent.kiosk").joinpath("static", name)
    return FileResponse(str(path), media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-store"})


def page_routes(settings: KioskSettings, speech: Speech, id_reader: IdReader | None) -> list[BaseRoute]:
    """``/``, ``/customer``, ``/operator``, ``/config.json``, ``/i18n/<lang>.json``, ``/speech/<lang>/<key>.wav``,
    ``/static``."""

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

    async def root(request: Request) -> Response:
        return RedirectResponse("/customer")

    return [
        Route("/", root),
        Route("/customer", customer),
        Route("/operator", operator),
        Route("/config.json", config),
        Route("/i18n/{lang}.json", i18n),
        Route("/speech/{lang}/{key}.wav", spoken),
        Mount("/static", app=_static(), name="static"),
    ]
