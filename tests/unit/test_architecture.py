"""The import graph of the project's own modules has no cycle, typing-only imports included.

import-linter's contracts (``make lint``) hold the layers; this holds the finer rule:
no module reaches itself through its imports, not even under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("chalicelib", "worker", "scripts", "bench")


def _graph() -> dict[str, set[str]]:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None, exclude_type_checking_imports=False)
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    # app.py is a module, not a package, so grimp cannot take it as a root: read its
    # imports of the packages (every one, nested and typing-only included) here.
    tree = ast.parse((ROOT / "app.py").read_text())
    edges["app"] = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module in graph.modules
    }
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(start: str) -> None:
        # Iterative, so a deep graph cannot exhaust the recursion limit.
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return sorted(found)


def test_the_finder_finds_a_cycle_hidden_behind_type_checking() -> None:
    edges = {"a.settings": {"a.limits"}, "a.limits": {"a.redis"}, "a.redis": {"a.settings"}}
    assert cycles({**edges, "a.other": {"a.settings"}}) == [["a.limits", "a.redis", "a.settings"]]


def test_no_module_of_the_project_imports_itself_round_a_cycle() -> None:
    assert cycles(_graph()) == []


def test_the_import_linter_contracts_hold() -> None:
    """The layers in pyproject.toml, also here so that ``make test`` fails on a broken one."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-logo", "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
