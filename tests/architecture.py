"""The product's import graph (grimp, imports inside functions included) and its
imports inside functions (ast), for tests/test_import_graph.py and for the numbers
in docs/architecture.md:

    .venv/bin/python -m tests.architecture
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PRODUCT_PACKAGES = (
    "accounts",
    "classifier_site",
    "dashboard",
    "jobs",
    "ml_core",
    "predictions",
    "training",
)


def is_product_module(name: str) -> bool:
    return ".migrations" not in name  # frozen history, never imported by the code


def build_graph() -> grimp.ImportGraph:
    """Every import between product modules, at any depth (module level, inside a
    function, under TYPE_CHECKING), migrations left out."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    graph = grimp.build_graph(*PRODUCT_PACKAGES, cache_dir=None)
    for module in list(graph.modules):
        if not is_product_module(module):
            graph.remove_module(module)
    return graph


def circles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The import circles: each strongly connected set of two or more modules
    (Tarjan's algorithm), sorted."""
    modules = sorted(graph.modules)
    edges = {module: sorted(graph.find_modules_directly_imported_by(module)) for module in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in edges[module]:
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    recursion = sys.getrecursionlimit()
    sys.setrecursionlimit(max(recursion, 10 * len(modules)))
    try:
        for module in modules:
            if module not in index:
                visit(module)
    finally:
        sys.setrecursionlimit(recursion)
    return sorted(found)


@dataclass(frozen=True)
class FunctionImport:
    path: str  # relative to the repository
    line: int
    function: str
    imported: str  # the module named by the import statement
    commented: bool  # a comment on its line or the line before says why


def product_files() -> list[Path]:
    return sorted(
        path
        for package in PRODUCT_PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    )


def function_imports() -> list[FunctionImport]:
    found = []
    for path in product_files():
        source = path.read_text()
        lines = source.splitlines()
        for function in ast.walk(ast.parse(source)):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    names = [node.module] if isinstance(node, ast.ImportFrom) else None
                    imported = (names or [alias.name for alias in node.names])[0] or ""
                    found.append(
                        FunctionImport(
                            path=str(path.relative_to(ROOT)),
                            line=node.lineno,
                            function=function.name,
                            imported=imported,
                            commented=_says_why(lines, node.lineno),
                        )
                    )
    # A nested function's imports are found from each enclosing function: once each.
    unique = {(item.path, item.line): item for item in found}
    return sorted(unique.values(), key=lambda item: (item.path, item.line))


def _says_why(lines: list[str], line: int) -> bool:
    """A comment on the import's line, or just above it among the comments, imports
    and blank lines before it (one comment may explain a block of imports)."""
    if "#" in lines[line - 1]:
        return True
    for text in reversed(lines[: line - 1]):
        text = text.strip()
        if text.startswith("#"):
            return True
        if text and not text.startswith(("from ", "import ")):
            return False
    return False


def largest_module() -> tuple[int, str]:
    return max(
        (len(path.read_text().splitlines()), str(path.relative_to(ROOT)))
        for path in product_files()
    )


def main() -> None:
    graph = build_graph()
    found = circles(graph)
    lines, path = largest_module()
    print(f"largest module: {path}, {lines} lines")
    print(f"imports inside functions: {len(function_imports())}")
    print(f"import circles: {len(found)}")
    for circle in found:
        print("  " + " <-> ".join(circle))


if __name__ == "__main__":
    main()
