"""Plain-text output of a command's result dict, for a person at a terminal (``--json`` is for programs)."""

from __future__ import annotations

from typing import Any

__all__ = ["print_fields"]


def print_fields(out: dict[str, Any], indent: str = "") -> None:
    """``key: value`` lines, nested dicts indented under their key."""
    for k, v in out.items():
        if isinstance(v, dict):
            print(f"{indent}{k}:")
            print_fields(v, indent + "  ")
        else:
            print(f"{indent}{k}: {v}")
