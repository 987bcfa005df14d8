"""Labelled face pairs for calibration: the deepface pair lists, widened by transitivity.

``master.csv`` (and ``face-recognition-pivot.csv`` beside it) label a few
hundred pairs. Same-person labels join photos into identities; a single
different-person label between two identities makes every cross pair of
them an impostor pair. That gives several times more impostor comparisons,
all implied by the labels, with none guessed.
"""

from __future__ import annotations

import csv
import itertools
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PairSet", "expand", "read_labelled_pairs"]


@dataclass(frozen=True)
class PairSet:
    """Genuine and impostor pairs of image file names, as the calibration scores them."""

    genuine: list[tuple[str, str]]
    impostor: list[tuple[str, str]]

    @property
    def images(self) -> list[str]:
        """Every image that appears in a pair, sorted, so each is embedded once."""
        return sorted({name for pair in self.genuine + self.impostor for name in pair})


def read_labelled_pairs(folder: Path) -> dict[tuple[str, str], bool]:
    """All labelled pairs in ``folder`` (file names only), True for same person."""
    labels: dict[tuple[str, str], bool] = {}
    for name in ("master.csv", "face-recognition-pivot.csv"):
        path = folder / name
        if not path.exists():
            continue
        with path.open(newline="") as fh:
            for row in csv.DictReader(fh):
                x = Path(row["file_x"]).name
                y = Path(row["file_y"]).name
                same = (row.get("Decision") or row.get("decision") or "").strip() == "Yes"
                labels[(x, y)] = same
    if not labels:
        raise FileNotFoundError(f"no master.csv under {folder}")
    return labels


def master_pairs(folder: Path) -> PairSet:
    """Only the pairs of master.csv, exactly as labelled."""
    gen: list[tuple[str, str]] = []
    imp: list[tuple[str, str]] = []
    with (folder / "master.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            (gen if row["Decision"].strip() == "Yes" else imp).append((row["file_x"], row["file_y"]))
    return PairSet(gen, imp)


def expand(labels: dict[tuple[str, str], bool]) -> PairSet:
    """Genuine and impostor pairs implied by the labels (raises on contradictory labels)."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for (a, b), same in labels.items():
        ra, rb = root(a), root(b)
        if same:
            parent[ra] = rb
    members: dict[str, list[str]] = {}
    for x in list(parent):
        members.setdefault(root(x), []).append(x)
    different: set[frozenset[str]] = set()
    for (a, b), same in labels.items():
        if not same:
            if root(a) == root(b):
                raise ValueError(f"contradictory labels: {a} and {b} are linked as the same person")
            different.add(frozenset((root(a), root(b))))
    genuine = [p for group in members.values() for p in itertools.combinations(sorted(group), 2)]
    impostor = []
    for pair in sorted(different, key=sorted):
        ra, rb = sorted(pair)
        impostor += [(a, b) for a in sorted(members[ra]) for b in sorted(members[rb])]
    return PairSet(sorted(genuine), impostor)
