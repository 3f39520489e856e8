"""The import rules of ARCHITECTURE.md ("Layers"), read from the source with `ast` (imports inside
functions count too): the library never imports its front ends, nothing outside `curator/cli/`
imports the CLI, and the trainer never reaches the store, directly or through another module."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, set[str]]:
    """Every module of `curator` and `trainer` -> the project modules it imports."""
    graph = {}
    for package in ("curator", "trainer"):
        for path in sorted((ROOT / package).rglob("*.py")):
            name, found = module_name(path), set()
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    found |= {a.name for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
            graph[name] = {m for m in found if m.split(".")[0] in ("curator", "trainer")}
    return {name: {m for m in imports if m in graph} for name, imports in graph.items()}


GRAPH = project_modules()


def in_package(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for m in GRAPH[todo.pop()] - seen:
            seen.add(m)
            todo.append(m)
    return seen


def test_the_graph_is_read():
    assert "curator.cli" in GRAPH["curator.__main__"] and "curator.store" in GRAPH["curator.export"]


def test_nothing_outside_the_cli_imports_it():
    offenders = [
        (m, i)
        for m, imports in GRAPH.items()
        for i in imports
        if in_package(i, "curator.cli") and not in_package(m, "curator.cli") and m != "curator.__main__"
    ]
    assert not offenders, f"only curator/cli/ (and `python -m curator`) may import the CLI: {offenders}"


def test_the_library_never_imports_the_app():
    front = ("curator.app", "curator.cli")
    offenders = [
        (m, i)
        for m, imports in GRAPH.items()
        for i in imports
        if in_package(i, "curator.app") and not any(in_package(m, f) for f in front)
    ]
    assert not offenders, f"the library and the trainer never import the app: {offenders}"


def test_the_trainer_never_reaches_the_store_or_a_front_end():
    for module in (m for m in GRAPH if in_package(m, "trainer")):
        bad = {m for m in reachable(module) if m == "curator.store" or in_package(m, "curator.app")}
        bad |= {m for m in reachable(module) if in_package(m, "curator.cli")}
        assert not bad, f"{module} reaches {sorted(bad)}: the trainer reads export folders only"
