"""Reading a file the caller names, bounded: regular files only, never more than a limit.

A path from the command line or a config can name ``/dev/zero`` (endless),
``/dev/urandom``, a FIFO (blocks until a writer comes) or a directory. Each
file is opened once, without blocking (``O_NONBLOCK``: opening a FIFO
returns at once), checked with ``fstat`` on that same descriptor (no window
between check and use) and read to at most ``limit + 1`` bytes, so the
answer is a specific error within a second, never a hang or a MemoryError.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edge_agent.errors import BadInput

__all__ = ["open_regular", "read_regular"]


@contextmanager
def open_regular(path: Path, what: str, error: type[BadInput] = BadInput) -> Iterator[int]:
    """A read-only descriptor of ``path``, refused with ``error`` unless it is a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise error(f"{what} {path} is a directory, not a file")
        if not stat.S_ISREG(mode):
            raise error(f"{what} {path} is not a regular file (a device, FIFO or socket); refusing to read it")
        yield fd
    finally:
        os.close(fd)


def read_regular(path: Path, limit: int, what: str, error: type[BadInput] = BadInput, *,
                 too_large: type[BadInput] | None = None) -> bytes:
    """The whole content of the regular file ``path``; over ``limit`` bytes is ``too_large`` (default ``error``)."""
    too_large = too_large or error
    with open_regular(path, what, error) as fd:
        if os.fstat(fd).st_size > limit:
            raise too_large(f"{what} {path} is over the {limit}-byte limit")
        chunks, size = [], 0
        try:
            while size <= limit:  # st_size can lie (procfs, a file growing): the read itself is bounded
                chunk = os.read(fd, min(1 << 20, limit + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        except OSError as exc:
            raise error(f"cannot read {what} {path}: {exc.strerror}") from None
    if size > limit:
        raise too_large(f"{what} {path} is over the {limit}-byte limit")
    return b"".join(chunks)
