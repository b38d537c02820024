"""One harness (harness/) starts every private stack: tests and benchmarks do not import
each other, nobody else builds a stack's command, its helpers are written once, and
importing it loads no product code."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from harness.helpers import ROOT

USERS = ("tests", "bench", "locust", "scripts")  # the harness's users
STACK_PROGRAMS = {"redis-server", "initdb", "pg_ctl", "pg_ctlcluster", "createdb"}
# The harness's own names: a definition elsewhere is a second copy.
HARNESS_NAMES = {
    "wait_until", "wait_for", "free_port", "redis_answers", "redis_server_binary",
    "postgres_bin", "cpu_seconds", "resident_memory", "PeakRss", "Stack", "Deployment",
    "PrivateRedis", "PrivatePostgres", "WebServer", "Worker", "gunicorn_command",
}  # fmt: skip
# Files that may name a stack command without starting one.
NOT_STARTED = {
    "tests/classifier_site/test_container_probe.py": "commands handed to the probe, never run",
    "tests/test_harness_boundaries.py": "the names this check looks for",
}


def python_files(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py"))


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def imported_modules(path: Path) -> set[str]:
    """Top-level names of every absolute import in the file, wherever it is."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def builds_a_stack_command(node: ast.AST) -> bool:
    """A list or tuple literal that is the command of a stack process."""
    if not isinstance(node, ast.List | ast.Tuple):
        return False
    words = []
    for element in node.elts:
        if isinstance(element, ast.BinOp) and isinstance(element.op, ast.Div):
            element = element.right  # VENV_BIN / "celery"
        if isinstance(element, ast.Constant) and isinstance(element.value, str):
            words.append(element.value.rsplit("/", 1)[-1])
    return bool(
        STACK_PROGRAMS & set(words)
        or ("celery" in words and {"worker", "beat"} & set(words))
        or "classifier_site.wsgi:application" in words
    )


def test_tests_and_benchmarks_do_not_import_each_other():
    bench_modules = {"bench", *(path.stem for path in python_files("bench"))}
    found = [
        f"{relative(path)} imports {sorted(imported_modules(path) & bench_modules)}"
        for path in python_files("tests")
        if imported_modules(path) & bench_modules
    ]
    found += [
        f"{relative(path)} imports tests"
        for path in python_files("bench", "locust", "scripts", "harness")
        if "tests" in imported_modules(path)
    ]
    assert found == []


def test_only_the_harness_builds_the_command_of_a_stack_process():
    found = []
    for path in python_files(*USERS):
        if relative(path) in NOT_STARTED:
            continue
        tree = ast.parse(path.read_text())
        found += [
            f"{relative(path)}:{node.lineno}"
            for node in ast.walk(tree)
            if builds_a_stack_command(node)
            or (isinstance(node, ast.Constant) and node.value in STACK_PROGRAMS)
        ]
    assert found == [], "start these processes through harness/"


def test_the_harness_helpers_are_defined_nowhere_else():
    found = [
        f"{relative(path)}:{node.lineno} defines {node.name}"
        for path in python_files(*USERS)
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name in HARNESS_NAMES
    ]
    assert found == []


def test_importing_the_harness_loads_no_product_code():
    product = sorted(
        path.name
        for path in ROOT.iterdir()
        if (path / "__init__.py").is_file() and path.name not in {"harness", "tests"}
    )
    modules = [f"harness.{path.stem}" for path in python_files("harness")]
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout))
    assert "ml_core" in product and "classifier_site" in product
    assert loaded & {*product, "django", "celery", "tensorflow"} == set()
