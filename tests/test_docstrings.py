"""A one-line docstring on every public class and function of edge_agent (generated _proto excluded).

Every public definition has one; a new one needs its docstring too.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "edge_agent"


def undocumented(tree: ast.Module) -> list[str]:
    """Public top-level classes and functions, and public methods of public classes, without a docstring."""
    missing = []

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) \
                    and not node.name.startswith("_"):
                if not ast.get_docstring(node):
                    missing.append(prefix + node.name)
                if isinstance(node, ast.ClassDef):
                    visit(node.body, f"{node.name}.")

    visit(tree.body, "")
    return missing


def test_the_checker_sees_a_missing_docstring() -> None:
    tree = ast.parse('def f():\n    pass\nclass C:\n    """C."""\n    def m(self):\n        pass\n'
                     '    def _p(self):\n        pass\ndef _g():\n    pass\n')
    assert undocumented(tree) == ["f", "C.m"]


def test_public_definitions_have_docstrings() -> None:
    missing = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("_proto/"):
            continue
        found = undocumented(ast.parse(path.read_text()))
        if found:
            missing[rel] = found
    assert missing == {}
