"""The figures README.md and the docs state are the ones a benchmark wrote, and cannot drift from them.

A figure is tied to the benchmark's committed JSON by an HTML comment right
after it (invisible when rendered), naming the file under the repository
root and a JSON pointer (RFC 6901) into it:

    BPCER 0 %<!-- docs/liveness-figures.json#/pad/held/bona_fide_clips/rate -->

A number followed by ``%`` is the JSON value x100; any other number is the
value itself. The figure must equal the value rounded to the digits shown.

Which figures must be tied (an untied one fails): every percentage in the
README status rows named in ``TIED_ROWS``, and every percentage on a line of
a doc in ``TIED_LINES`` that names one of its measures. Targets ("<= 5 %",
"goal 1 %") are not figures. The matching row is tied to the threshold
calibration's summary (docs/accuracy-2026-11-30/calibration.json), the
liveness row to bench/liveness.py's (docs/liveness-figures.json).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
TIED_ROWS = ("matching", "liveness")  # README.md status rows whose every percentage comes from a benchmark's JSON
# doc: lines naming these measures are tied (docs/status.md holds the README's full status table)
TIED_LINES = {"docs/liveness.md": ("APCER", "BPCER"), "docs/status.md": ("FNMR", "APCER", "BPCER")}

_NUMBER = r"(?<![\w.])(\d+(?:\.\d+)?)(\s?%)?"
_TAG = r"<!--\s*([^#\s]+\.json)#(/[^>]*?)\s*-->"
TAGGED = re.compile(_NUMBER + r"\s*" + _TAG)
# A target ("APCER <= 5 %", "goal 1 %") is not a measured figure.
PERCENT = re.compile(r"(?<![\w.])(?<!<= )(?<!<=)(?<!goal )\d+(?:\.\d+)?\s?%(?!\s*<!--)")


def pointer(doc: Any, ref: str) -> Any:
    """RFC 6901: ``/a/b~1c/0`` -> doc["a"]["b/c"][0]."""
    for raw in ref.lstrip("/").split("/"):
        key = raw.replace("~1", "/").replace("~0", "~")
        doc = doc[int(key)] if isinstance(doc, list) else doc[key]
    return doc


def mismatches(text: str, root: Path = ROOT) -> list[str]:
    """Every tied figure in ``text`` that differs from its JSON value, or whose value is missing."""
    out = []
    cache: dict[str, Any] = {}
    for m in TAGGED.finditer(text):
        shown, percent, file, ref = m.group(1), bool(m.group(2)), m.group(3), m.group(4)
        if file not in cache:
            cache[file] = json.loads((root / file).read_text())
        try:
            value = float(pointer(cache[file], ref))
        except (KeyError, IndexError, ValueError, TypeError):
            out.append(f"{m.group(0)!r}: {file}#{ref} has no number")
            continue
        value *= 100 if percent else 1
        digits = len(shown.partition(".")[2])
        if abs(value - float(shown)) > 0.5 * 10**-digits + 1e-9:
            out.append(f"{m.group(0)!r}: the JSON says {value:.{digits + 2}f}")
    return out


def untied(text: str) -> list[str]:
    """Percentages with no tie to a benchmark's JSON."""
    return [m.group(0) for m in PERCENT.finditer(text)]


def readme_row(name: str, readme: str) -> str:
    rows = [line for line in readme.splitlines() if line.startswith(f"| {name} |")]
    assert len(rows) == 1, f"README.md has {len(rows)} status rows named {name!r}"
    return rows[0]


@pytest.mark.parametrize("name", TIED_ROWS)
def test_readme_status_row_figures_come_from_the_benchmark(name: str) -> None:
    row = readme_row(name, (ROOT / "README.md").read_text())
    assert TAGGED.search(row), f"the README's {name} row ties no figure to a benchmark's JSON"
    assert not untied(row), f"figures in the README's {name} row with no source: {untied(row)}"
    assert not mismatches(row), "\n".join(mismatches(row))


@pytest.mark.parametrize(("doc", "words"), TIED_LINES.items())
def test_doc_figures_come_from_the_benchmark(doc: str, words: tuple[str, ...]) -> None:
    text = (ROOT / doc).read_text()
    lines = [line for line in text.splitlines() if any(w in line for w in words)]
    assert any(TAGGED.search(line) for line in lines), f"{doc} ties no {words} figure to a benchmark's JSON"
    loose = [f"{line[:80]}...: {untied(line)}" for line in lines if untied(line)]
    assert not loose, f"{doc}: figures with no source:\n" + "\n".join(loose)
    assert not mismatches(text), "\n".join(mismatches(text))


def test_drift_and_untied_figures_are_caught(tmp_path: Path) -> None:
    """The checker itself: a changed figure, a missing key and an untied figure are each reported."""
    (tmp_path / "f.json").write_text(json.dumps({"a": {"rate": 0.125, "n": 8, "x/y": 0.0}}))
    ok = "APCER 12.5 %<!-- f.json#/a/rate --> (13 %<!-- f.json#/a/rate -->, 8<!-- f.json#/a/n --> each), " \
         "0 %<!-- f.json#/a/x~1y -->"
    assert mismatches(ok, tmp_path) == [] and untied(ok) == []
    assert len(mismatches("APCER 11 %<!-- f.json#/a/rate -->", tmp_path)) == 1  # drifted
    assert len(mismatches("APCER 1.3 %<!-- f.json#/a/rate -->", tmp_path)) == 1  # forgot x100
    assert len(mismatches("9<!-- f.json#/a/n -->", tmp_path)) == 1
    assert len(mismatches("5 %<!-- f.json#/a/missing -->", tmp_path)) == 1
    assert untied("BPCER 25 % (1 of 4), real photos 13%<!-- f.json#/a/rate -->") == ["25 %"]
    assert untied("targets: APCER <= 5 % (goal 1 %), BPCER <=5%") == []
