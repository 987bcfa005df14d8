"""The pages' texts, one JSON catalogue per language; the code and the pages carry only keys.

Also maps what the agent's session stream says (an action, a hint's English
message) to catalogue keys, so the customer sees the same words whatever
the agent's wording, and an unknown hint still gets a sensible text.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from edge_agent.errors import CatalogError

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "CatalogError", "action_key", "catalog", "hint_key"]

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"

# The agent's hint messages (edge_agent.liveness.challenge) that the customer screen distinguishes.
_HINTS = {
    "look at the camera": "hint.no_face",
    "look straight at the camera": "hint.look_straight",
}
_ACTIONS = ("blink", "turn_left", "turn_right")


@cache
def catalog(lang: str) -> dict[str, str]:
    """Every text of ``lang``; raises CatalogError for a language the kiosk does not ship."""
    if lang not in LANGUAGES:
        raise CatalogError(f"no catalogue for language {lang!r}; choose one of {', '.join(LANGUAGES)}")
    text = resources.files("edge_agent.kiosk").joinpath("i18n", f"{lang}.json").read_text(encoding="utf-8")
    data = json.loads(text)
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise CatalogError(f"catalogue {lang} is not a flat object of texts")
    return {str(k): v for k, v in data.items()}


def action_key(action: str) -> str:
    """The catalogue key of a prompt's action; an action the kiosk does not know shows the generic hint."""
    return f"prompt.{action}" if action in _ACTIONS else "hint.generic"


def hint_key(message: str) -> str:
    """The catalogue key for a hint from the agent; a message the kiosk does not know shows the generic hint."""
    return _HINTS.get(message, "hint.generic")
