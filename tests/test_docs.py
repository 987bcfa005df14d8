"""The docs name only what exists: every `edge-agent COMMAND` shown in code, every RPC of the protos."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from edge_agent.cli import _parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"```.*?```", re.S)
_SPAN = re.compile(r"`([^`]+)`")
# "sudo -u edge-agent edge-agent provision": the first one is the user
_COMMAND = re.compile(r"(?:^|[ \t$(|;&])(?<!-u )edge-agent[ \t]+([a-z][a-z0-9-]*)", re.M)


def _code(text: str) -> str:
    """The fenced blocks and inline code spans of a Markdown text: where commands are shown, not talked about."""
    spans = [span.replace("\n", " ") for span in _SPAN.findall(_FENCE.sub("", text))]
    return "\n".join(_FENCE.findall(text) + spans)


def _subcommands() -> set[str]:
    actions = [a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return {name for a in actions for name in a.choices}


def _rpcs(proto: str) -> list[str]:
    return re.findall(r"^\s*rpc\s+(\w+)\(", (ROOT / "proto" / proto).read_text(), re.M)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_command_shown_in_the_docs_exists(doc: Path) -> None:
    shown = set(_COMMAND.findall(_code(doc.read_text())))
    assert shown <= _subcommands(), f"{doc.name} shows commands the CLI does not have: {sorted(shown - _subcommands())}"


def test_the_code_extraction_sees_commands_and_skips_prose() -> None:
    text = ("The edge-agent looks at faces.\n```sh\n$ edge-agent match A B\nsudo -u edge-agent edge-agent status\n```\n"
            "then `edge-agent\nselftest --json`, as user `edge-agent` (group `video`).")
    assert _COMMAND.findall(_code(text)) == ["match", "status", "selftest"]


@pytest.mark.parametrize(("proto", "doc"), [("carrier.proto", "carrier-protocol.md"), ("agent.proto", "daemon.md")])
def test_each_rpc_is_documented(proto: str, doc: str) -> None:
    text = (ROOT / "docs" / doc).read_text()
    rpcs = _rpcs(proto)
    assert len(rpcs) >= 5
    missing = [name for name in rpcs if not re.search(rf"\b{name}\b", text)]
    assert not missing, f"docs/{doc} does not describe {missing} of {proto}"
