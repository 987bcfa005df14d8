"""The import graph of edge_agent: no cycles, and the pure layers stay pure.

Imports are read with ``ast`` from the source, including those inside functions:
a fresh-interpreter import only follows module-level imports, so a cycle hidden
in function-level imports (the kind that broke ``modelset/commands.py`` <->
``provision/commands.py`` <-> ``provision/selftest.py``) would pass it unseen.
``if TYPE_CHECKING:`` imports count too: they are still a dependency a reader follows.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "edge_agent"
GENERATED = "edge_agent._proto"
# Vision, liveness and matching are computation on arrays: no daemon, no CLI, no wire format.
PURE_LAYERS = ("edge_agent.vision", "edge_agent.liveness", "edge_agent.matching")
# The one-process demo and the CLI (which registers `carrier-server`) are the only device-package modules that may
# use the reference carrier; the agent itself never depends on the server side of its protocol.
MAY_USE_REFERENCE_CARRIER = {"edge_agent.demo", "edge_agent.cli"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(path: Path, name: str) -> set[str]:
    """Every module named by an import anywhere in the file (absolute and relative, any depth)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            found.add(origin)
            # `from edge_agent.x import y` may name the submodule edge_agent.x.y
            found.update(f"{origin}.{alias.name}" for alias in node.names)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the edge_agent modules it imports (generated code excluded as a source, kept as a target)."""
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    known = set(files) | {GENERATED}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        if name.startswith(GENERATED):
            continue
        targets = set()
        for imported in imported_names(path, name):
            # collapse edge_agent._proto.carrier_pb2 to the generated package
            if imported.startswith(GENERATED):
                targets.add(GENERATED)
            elif imported in known and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


def find_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (or a self-loop), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan; the graph is ~100 nodes, recursion depth is no concern
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(cycles)


def forbidden_imports(graph: Mapping[str, Iterable[str]]) -> list[str]:
    """Edges from a pure layer into the service, any commands module or the generated proto code."""
    bad = []
    for source, targets in sorted(graph.items()):
        if not source.startswith(PURE_LAYERS):
            continue
        for target in sorted(targets):
            leaf = target.rpartition(".")[2]
            if (target == GENERATED or target.startswith("edge_agent.service")
                    or leaf in ("commands", "command")):
                bad.append(f"{source} -> {target}")
    return bad


def test_cycle_finder_sees_a_cycle_through_three_modules() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []
    assert find_cycles({"a": {"a"}}) == [["a"]]


def test_forbidden_imports_named() -> None:
    graph = {
        "edge_agent.liveness.x": {GENERATED, "edge_agent.vision.y"},
        "edge_agent.vision.y": {"edge_agent.modelset.commands", "edge_agent.errors"},
        "edge_agent.matching.z": {"edge_agent.service.daemon"},
        "edge_agent.cli": {"edge_agent.service.daemon"},
    }
    assert forbidden_imports(graph) == [
        "edge_agent.liveness.x -> edge_agent._proto",
        "edge_agent.matching.z -> edge_agent.service.daemon",
        "edge_agent.vision.y -> edge_agent.modelset.commands",
    ]


def test_function_level_and_relative_imports_are_read(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from edge_agent.provision import selftest\n    from . import sibling\n")
    assert imported_names(source, "edge_agent.pkg.m") >= {"edge_agent.provision.selftest", "edge_agent.pkg.sibling"}


def test_the_graph_is_read() -> None:
    graph = import_graph()
    assert "edge_agent.cli" in graph and "edge_agent.errors" in graph["edge_agent.vision.image"]
    assert len(graph) > 50


def test_no_import_cycles() -> None:
    assert find_cycles(import_graph()) == []


def test_the_device_side_does_not_import_the_reference_carrier() -> None:
    graph = import_graph()
    bad = [f"{s} -> {t}" for s, targets in sorted(graph.items())
           if not s.startswith("edge_agent.reference_carrier") and s not in MAY_USE_REFERENCE_CARRIER
           for t in sorted(targets) if t.startswith("edge_agent.reference_carrier")]
    assert bad == []


def test_pure_layers_do_not_import_service_commands_or_proto() -> None:
    assert forbidden_imports(import_graph()) == []


def test_commands_modules_do_not_import_each_other() -> None:
    graph = import_graph()
    bad = [f"{s} -> {t}" for s, targets in sorted(graph.items()) if s.rpartition(".")[2] in ("commands", "command")
           for t in sorted(targets) if t.rpartition(".")[2] in ("commands", "command")]
    assert bad == []

