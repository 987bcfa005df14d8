"""The clerk panel's JSON API: the agent's health, the session's status, start and cancel."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from edge_agent.errors import BadInput, EdgeAgentError
from edge_agent.kiosk.access import refusal
from edge_agent.kiosk.agent_link import AgentLink
from edge_agent.kiosk.health import health_view
from edge_agent.kiosk.idreader import IdReader
from edge_agent.kiosk.runner import Runner
from edge_agent.kiosk.settings import KioskSettings

__all__ = ["MAX_PHOTO_BYTES", "api_routes"]

MAX_PHOTO_BYTES = 8 * 1024 * 1024


def api_routes(link: AgentLink, runner: Runner, settings: KioskSettings, id_reader: IdReader | None) -> list[BaseRoute]:
    """``/api/health``, ``/api/status``, ``/api/start`` (POST) and ``/api/cancel`` (POST)."""

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

    return [
        Route("/api/health", api_health),
        Route("/api/status", api_status),
        Route("/api/start", api_start, methods=["POST"]),
        Route("/api/cancel", api_cancel, methods=["POST"]),
    ]
