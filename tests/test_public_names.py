"""``__all__`` tells the truth: it names only what the module has, and everything other modules import from it.

A reader takes ``__all__`` as a module's interface; a name another module imports from it while ``__all__``
leaves it out is an interface nobody declared (the case of ``parse_signed``, ``cert_sha256``, ``token_digest``
before).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "edge_agent"
# liveness/workers.py's INLINE is imported by the session; the module is another branch's (issue 29) to declare.
NOT_YET = {("edge_agent.liveness.workers", "INLINE")}


def declared() -> dict[str, tuple[list[str], set[str]]]:
    """Module -> (its __all__, the names it defines or imports at top level)."""
    out = {}
    for path in PACKAGE.rglob("*.py"):
        if "_proto" in path.parts:
            continue
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        tree = ast.parse(path.read_text())
        names: set[str] = set()
        exported = None
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Import | ast.ImportFrom):
                names.update((a.asname or a.name).split(".")[0] for a in node.names)
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
                if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
                    assert isinstance(node.value, ast.List)
                    exported = [e.value for e in node.value.elts if isinstance(e, ast.Constant)]
        if exported is not None:
            out[name] = (exported, names)
    return out


def test_all_names_only_what_exists() -> None:
    wrong = [f"{mod}.{n}" for mod, (exported, names) in declared().items() for n in exported if n not in names]
    assert wrong == []


def test_what_other_modules_import_is_declared() -> None:
    modules = declared()
    undeclared = set()
    for folder in ("edge_agent", "bench", "tools"):
        for path in (ROOT / folder).rglob("*.py"):
            if "_proto" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.ImportFrom) or node.level or node.module not in modules:
                    continue
                for alias in node.names:
                    if alias.name.startswith("_") or f"{node.module}.{alias.name}" in modules or \
                            (PACKAGE.parent / node.module.replace(".", "/") / alias.name).is_dir():
                        continue
                    if alias.name not in modules[node.module][0]:
                        undeclared.add((node.module, alias.name))
    assert undeclared - NOT_YET == set()
