"""The error vocabulary: every exception in edge_agent/errors.py, each mapped once, and no exit code elsewhere."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import grpc
import pytest

from edge_agent import errors
from edge_agent.errors import BadInput, EdgeAgentError, exit_code_of, grpc_status_of

PACKAGE = Path(errors.__file__).resolve().parent
BASES = [EdgeAgentError, *(c for c in EdgeAgentError.__subclasses__())]
# Functions whose int results are counts, not exit codes.
NOT_EXIT_CODES = {("outbox/store.py", "read_counter_mark"), ("provision/selftest.py", "backlog"),
                  ("provision/commands.py", "_drain"), ("reference_carrier/pg_store.py", "audit_count")}
NOT_YET: set[str] = set()  # every command reads the table


def error_classes() -> list[type[EdgeAgentError]]:
    return [c for _, c in inspect.getmembers(errors, inspect.isclass)
            if issubclass(c, EdgeAgentError) and c.__module__ == errors.__name__]


def test_every_class_is_mapped_to_an_exit_code_and_a_real_grpc_status() -> None:
    for cls in error_classes():
        assert cls.exit_code in (errors.EXIT_BAD_INPUT, errors.EXIT_UNHEALTHY), cls
        assert grpc.StatusCode[cls.grpc_status] not in (grpc.StatusCode.OK, grpc.StatusCode.UNKNOWN), cls
        assert cls.__doc__ and cls.code, cls


def test_the_mapping_is_decided_by_the_bases_only() -> None:
    for cls in error_classes():
        if cls in BASES:
            continue
        for attr in ("exit_code", "grpc_status"):
            assert attr not in vars(cls), f"{cls.__name__} sets {attr}: put it under the right base instead"


def test_each_base_has_its_own_exit_code_and_status() -> None:
    pairs = [(b.exit_code, b.grpc_status) for b in BASES]
    assert len(set(pairs)) == len(pairs), pairs
    assert len({b.grpc_status for b in BASES}) == len(BASES)
    assert {b.exit_code for b in BASES} == {errors.EXIT_BAD_INPUT, errors.EXIT_UNHEALTHY}


def test_an_error_that_is_two_things_takes_the_more_specific_mapping() -> None:
    full = errors.OutboxFull("full")
    assert isinstance(full, errors.OutboxError) and grpc_status_of(full) == "RESOURCE_EXHAUSTED"
    assert grpc_status_of(errors.OutboxCorrupt("bad")) == "DATA_LOSS"
    assert (exit_code_of(errors.NoFace("x")), grpc_status_of(errors.NoFace("x"))) == (2, "INVALID_ARGUMENT")


def test_every_exception_of_the_package_lives_in_errors_py() -> None:
    elsewhere = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("_proto/") or rel == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                    ast.unparse(b).endswith(("Error", "Exception", "BadInput")) or ast.unparse(b) in errors.__all__
                    for b in node.bases):
                elsewhere.append(f"{rel}:{node.name}")
    # reference_carrier/server.py's Abort carries a grpc status inside the reference server's handlers (another branch)
    assert elsewhere == ["reference_carrier/server.py:Abort"]


def _exit_literals(tree: ast.AST, rel: str) -> list[str]:
    found = []
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef) or (rel, fn.name) in NOT_EXIT_CODES:
            continue
        returns = ast.unparse(fn.returns) if fn.returns else ""
        for node in ast.walk(fn):
            value = node.value if isinstance(node, ast.Return) else None
            if returns.startswith("tuple[int") and isinstance(value, ast.Tuple):
                value = value.elts[0]
            elif returns != "int":
                value = None
            if value is not None and _is_literal_int(value):
                found.append(f"{rel}:{fn.name}:{node.lineno}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func) in ("sys.exit", "SystemExit", "exit") \
                and node.args and _is_literal_int(node.args[0]):
            found.append(f"{rel}:{node.lineno}")
    return found


def _is_literal_int(node: ast.expr) -> bool:
    if isinstance(node, ast.IfExp):
        return _is_literal_int(node.body) or _is_literal_int(node.orelse)
    return isinstance(node, ast.Constant) and type(node.value) is int


def test_no_exit_code_literal_outside_the_cli_and_the_table() -> None:
    found = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("_proto/") or rel in ("cli.py", "errors.py") or rel in NOT_YET:
            continue
        found += _exit_literals(ast.parse(path.read_text()), rel)
    assert found == []


def test_the_literal_finder_sees_literals() -> None:
    source = ("def a() -> tuple[int, dict]:\n    return 0, {}\n"
              "def b() -> int:\n    return 1 if x else 2\n"
              "def c() -> tuple[int, dict]:\n    return EXIT_OK, {}\n"
              "sys.exit(3)\n")
    assert _exit_literals(ast.parse(source), "m.py") == ["m.py:a:2", "m.py:b:4", "m.py:7"]


def test_the_table_in_the_docs_is_the_table_in_the_code() -> None:
    text = (PACKAGE.parent / "docs" / "errors.md").read_text()
    for base in BASES:
        row = f"| `{base.__name__}` | {base.exit_code} | {base.grpc_status} |"
        assert row in text, row


@pytest.mark.parametrize("exc", [errors.ConfigError("x"), errors.CameraError("x"), errors.NotEnrolled("x")])
def test_the_cli_exits_with_the_tables_code(exc: EdgeAgentError) -> None:
    assert exit_code_of(exc) == (2 if isinstance(exc, BadInput) else 3)
