"""From the threads that read the agent's streams to the pages' asyncio handlers.

Each page connection subscribes with its own queue; ``publish`` may be
called from any thread. A ``latest_only`` hub keeps one item per
subscriber (the newest preview frame), so a slow screen skips frames
instead of queueing them.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

__all__ = ["Broadcast"]


class Broadcast:
    """A hub that hands each item published from a reader thread to every subscribed page's queue."""

    def __init__(self, latest_only: bool = False, maxsize: int = 256) -> None:
        self._lock = threading.Lock()
        self._subs: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Any]]] = set()
        self._latest_only = latest_only
        self._maxsize = 1 if latest_only else maxsize

    def subscribe(self) -> asyncio.Queue[Any]:
        """A new queue for the calling page; must run on that page's event loop, which will receive the items."""
        queue: asyncio.Queue[Any] = asyncio.Queue(self._maxsize)
        with self._lock:
            self._subs.add((asyncio.get_running_loop(), queue))
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Any]) -> None:
        """Stop delivering to ``queue``, e.g. when its page disconnects."""
        with self._lock:
            self._subs = {(loop, q) for loop, q in self._subs if q is not queue}

    def publish(self, item: Any) -> None:
        """Hand ``item`` to every subscriber, from any thread; a subscriber whose loop is gone is dropped."""
        with self._lock:
            subs = list(self._subs)
        for loop, queue in subs:
            try:
                loop.call_soon_threadsafe(self._put, queue, item)
            except RuntimeError:  # that page's loop is gone
                self.unsubscribe(queue)

    def _put(self, queue: asyncio.Queue[Any], item: Any) -> None:
        if queue.full():
            # latest_only: drop the older frame; otherwise a page that stopped reading loses its oldest event
            queue.get_nowait()
        queue.put_nowait(item)
