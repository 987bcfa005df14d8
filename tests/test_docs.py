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


_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")


def _anchors(doc: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    heads = re.findall(r"^#{1,6}\s+(.+?)\s*$", _FENCE.sub("", doc.read_text()), re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in heads}


def _all_docs() -> list[Path]:
    return [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _broken_links(doc: Path) -> list[str]:
    broken = []
    for m in _LINK.finditer(_FENCE.sub("", doc.read_text())):
        target = m[1] or m[2]
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:, file:
            continue
        path, _, anchor = target.partition("#")
        dest = (doc.parent / path).resolve() if path else doc
        if not dest.exists() or (anchor and dest.suffix == ".md" and anchor not in _anchors(dest)):
            broken.append(target)
    return broken


@pytest.mark.parametrize("doc", _all_docs(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_local_link_resolves(doc: Path) -> None:
    """A link to a file or heading of this repository must lead somewhere: a newcomer follows them first."""
    broken = _broken_links(doc)
    assert not broken, f"{doc.relative_to(ROOT)} links to what does not exist: {broken}"


def test_the_link_check_finds_a_broken_link(tmp_path: Path) -> None:
    (tmp_path / "there.md").write_text("# A heading, with words\n")
    (tmp_path / "x.png").write_bytes(b"")
    doc = tmp_path / "doc.md"
    doc.write_text("[ok](there.md#a-heading-with-words) [gone](missing.md) [bad](there.md#nope) ![img](x.png) "
                   "[w](https://x) [self](#nowhere)\n```\n[in code](skipped.md)\n```\n")
    assert _broken_links(doc) == ["missing.md", "there.md#nope", "#nowhere"]


README_BUDGET = 8_000  # bytes: what a newcomer reads first; detail belongs in docs/


def test_the_readme_is_short_and_keeps_the_two_command_path() -> None:
    readme = (ROOT / "README.md").read_bytes()
    assert len(readme) <= README_BUDGET, f"README.md is {len(readme)} bytes: move detail to docs/"
    assert re.search(rb"^make demo ", readme, re.M) and re.search(rb"^make test ", readme, re.M)
