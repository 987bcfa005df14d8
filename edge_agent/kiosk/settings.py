"""How the kiosk was started (``KioskSettings``), and where the camera preview may be shown (``is_loopback``)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from edge_agent.kiosk.access import allowed_hosts
from edge_agent.kiosk.catalog import DEFAULT_LANGUAGE

__all__ = ["SPOKEN_PREFIXES", "KioskSettings", "is_loopback"]

# Catalogue keys the kiosk speaks: the customer's fixed texts, nothing of the clerk's.
SPOKEN_PREFIXES = ("prompt.", "hint.", "progress.", "result.", "customer.welcome", "customer.preparing")


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
