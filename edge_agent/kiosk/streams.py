"""The kiosk's two streams: the session's events (Server-Sent Events) and the camera preview (local screen only)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from edge_agent.errors import KioskForbidden
from edge_agent.kiosk.access import refusal
from edge_agent.kiosk.runner import Runner
from edge_agent.kiosk.settings import KioskSettings, is_loopback

__all__ = ["stream_routes"]


def stream_routes(runner: Runner, settings: KioskSettings) -> list[BaseRoute]:
    """``/events`` and ``/preview.mjpg``."""

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

    return [Route("/events", events), Route("/preview.mjpg", preview)]
