"""Where the reference photo comes from besides an upload: the ID card reader, behind a small interface.

A real reader (a PC/SC or USB reader of the Chinese ID card chip) plugs in
here; ``FileIdReader`` stands in for it in demos and tests: it returns the
bytes of one photo file, read at the moment the clerk asks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from edge_agent.errors import IdReaderError

__all__ = ["FileIdReader", "IdReader", "IdReaderError", "id_reader"]


class IdReader(Protocol):
    """Where the reference photo comes from when the clerk does not upload one."""

    def read_photo(self) -> bytes:
        """The portrait from the card now on the reader; IdReaderError when there is none."""
        ...


@dataclass(frozen=True)
class FileIdReader:
    """The stand-in for a card reader in demos and tests: one photo file, read when asked."""

    path: Path

    def read_photo(self) -> bytes:
        """The file's bytes; an unreadable or empty file is an IdReaderError, like a reader with no card."""
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise IdReaderError(f"the ID reader stand-in cannot read {self.path}: {exc.strerror}") from None
        if not data:
            raise IdReaderError("no card on the reader (the stand-in's photo file is empty)")
        return data


def id_reader(spec: str) -> IdReader | None:
    """``file:PATH`` (the stand-in) or empty for none."""
    if not spec:
        return None
    if spec.startswith("file:"):
        return FileIdReader(Path(spec.removeprefix("file:")))
    raise IdReaderError(f"unknown ID reader {spec!r}: use file:PATH")
