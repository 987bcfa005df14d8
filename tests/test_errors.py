"""The error vocabulary: every exception in edge_agent/errors.py, each mapped once, and no exit code elsewhere."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import grpc
import pytest

from edge_agent import errors
from edge_agent.errors import BadInput, EdgeAgentError, exit_code_of, grpc_status_of, http_status_of

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
    assert elsewhere == []  # the reference carrier raises the classes of errors.py too (it had its own Abort)


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


def doc_rows() -> dict[str, list[str]]:
    """docs/errors.md's table: base name -> its cells (exit, gRPC, HTTP, meaning, example codes)."""
    rows = {}
    for line in (PACKAGE.parent / "docs" / "errors.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 6:
            rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_every_row_of_the_docs_table_is_true() -> None:
    """Each row's exit code, gRPC and HTTP status are its base's, and each example code is a class of that base."""
    rows = doc_rows()
    assert set(rows) == {b.__name__ for b in BASES}
    for base in BASES:
        exit_code, grpc_name, http, _meaning, examples = rows[base.__name__]
        assert (int(exit_code), grpc_name, int(http)) == (base.exit_code, base.grpc_status, base.http_status)
        codes = {c.code for c in error_classes() if c.grpc_status == base.grpc_status}
        for example in examples.replace("`", "").split(", "):
            assert example in codes, f"{example} is no code of a {base.__name__}"


def test_every_base_has_an_http_status_the_kiosk_answers_with() -> None:
    for cls in error_classes():
        assert 400 <= cls.http_status < 600, cls
        if cls not in BASES:
            assert "http_status" not in vars(cls), cls
    assert http_status_of(errors.KioskBusy("x")) == 409 and http_status_of(errors.CatalogError("x")) == 400


@pytest.mark.parametrize("cls", error_classes())
def test_about_names_the_input_for_every_class(cls: type[EdgeAgentError]) -> None:
    exc = cls.__new__(cls)
    Exception.__init__(exc, "broken")
    exc.subject = None
    named = exc.about("reference")
    assert type(named) is cls and str(named) == "reference: broken" and named.subject == "reference"
    assert named.code == exc.code


# Python's own exceptions the package raises for a caller's bug or a protocol (iterators, argparse types): never
# an answer to a customer, a terminal or a device.
BUILTIN_RAISES = {"ValueError", "KeyError", "AssertionError", "RuntimeError", "OSError", "FileNotFoundError",
                  "argparse.ArgumentTypeError"}


def test_every_raised_error_comes_from_errors_py() -> None:
    """``raise X(...)``: X is a class of errors.py, a builtin for a bug, or a function that returns one of them."""
    makers, raised = set(), []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("_proto/"):
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.returns is not None and \
                    set(ast.unparse(node.returns).split(" | ")) <= set(errors.__all__):
                makers.add(node.name)
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                raised.append((f"{rel}:{node.lineno}", node.exc.func))
    wrong = []
    for where, func in raised:
        while isinstance(func, ast.Attribute) and func.attr == "about":  # X(...).about("reference")
            func = func.value.func if isinstance(func.value, ast.Call) else func.value
        name = ast.unparse(func)
        if isinstance(func, ast.Name) and func.id.islower():  # a variable holding an error, or a maker
            continue
        if name in errors.__all__ or name in BUILTIN_RAISES or name.rpartition(".")[2] in makers:
            continue
        wrong.append(f"{where}:{name}")
    assert wrong == []
    assert {"agent_error", "carrier_error"} <= makers


@pytest.mark.parametrize("exc", [errors.ConfigError("x"), errors.CameraError("x"), errors.NotEnrolled("x")])
def test_the_cli_exits_with_the_tables_code(exc: EdgeAgentError) -> None:
    assert exit_code_of(exc) == (2 if isinstance(exc, BadInput) else 3)
