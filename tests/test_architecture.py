"""The never-rules of docs/architecture.md, read from the code's own imports.

Every ``import`` and ``from … import`` in ``src/sabio`` counts: at module level, inside
functions, and under ``if TYPE_CHECKING`` (a type-only import is still an arrow a reader
follows). Each rule is a function over an import graph, so each is also shown failing on
a synthetic graph that breaks it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

import sabio

SRC = Path(sabio.__file__).parent
Graph = Mapping[str, frozenset[str]]

KNOWN_CYCLES: dict[frozenset[str], str] = {}
"""Import cycles still in the code, each with the reason it is left; the fewer the better.
A cycle that goes away must be taken out of this table (the test says so)."""


def module_names(root: Path = SRC) -> dict[str, Path]:
    """Every module under ``root``: dotted name → file (a package by its ``__init__``)."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def imports_of(name: str, path: Path, known: Iterable[str]) -> frozenset[str]:
    """The sabio modules ``name`` imports anywhere in its file."""
    known = set(known)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
                break  # "from a import b": b when it is a module, else a
    return frozenset(found)


def import_graph() -> dict[str, frozenset[str]]:
    names = module_names()
    return {name: imports_of(name, path, names) for name, path in names.items()}


def _within(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


INTERFACES = (
    "sabio.server",
    "sabio.web",
    "sabio.cli",
    "sabio.cli_data",
    "sabio.cli_sources",
    "sabio.cli_tasks",
    "sabio.cli_review",
    "sabio.cli_notes",
)
INTERFACE_ONLY = ("sabio.__main__", "sabio.terminal")
"""Modules that belong to the interfaces without being under their names: the entry point
and the CLI's printing."""


def loader_violations(graph: Graph) -> list[str]:
    """Loaders turn bytes into text: they never reach the store, the models, the index or
    anything that does (the service, the interfaces)."""
    forbidden = ("sabio.store", "sabio.models", "sabio.index", "sabio.service", *INTERFACES)
    return [
        f"{module} imports {target}"
        for module, targets in sorted(graph.items())
        if _within(module, "sabio.loaders")
        for target in sorted(targets)
        if _within(target, *forbidden)
    ]


def core_violations(graph: Graph) -> list[str]:
    """The core (everything but the server, the web app and the CLI) never reaches the
    interfaces: they are its clients."""
    edge = (*INTERFACES, *INTERFACE_ONLY)
    return [
        f"{module} imports {target}"
        for module, targets in sorted(graph.items())
        if not _within(module, *edge)
        for target in sorted(targets)
        if _within(target, *edge)
    ]


def model_violations(graph: Graph) -> list[str]:
    """Model backends turn text into text or vectors: they never reach documents (the
    loaders, ingestion, the store, the index, sources, chunking, search)."""
    forbidden = (
        "sabio.loaders",
        "sabio.ingest",
        "sabio.index",
        "sabio.store",
        "sabio.sources",
        "sabio.chunking",
        "sabio.search",
        "sabio.service",
        *INTERFACES,
    )
    return [
        f"{module} imports {target}"
        for module, targets in sorted(graph.items())
        if _within(module, "sabio.models")
        for target in sorted(targets)
        if _within(target, *forbidden)
    ]


def cycles(graph: Graph) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, frozenset()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def cycle_violations(graph: Graph, known: Mapping[frozenset[str], str]) -> list[str]:
    found = cycles(graph)
    new = [f"import cycle: {' ↔ '.join(sorted(c))}" for c in found if c not in known]
    gone = [f"no longer a cycle, take it out of KNOWN_CYCLES: {sorted(c)}" for c in known]
    return new + [g for g, c in zip(gone, known, strict=True) if c not in found]


# the rules, on the code


@pytest.fixture(scope="module")
def graph() -> dict[str, frozenset[str]]:
    return import_graph()


def test_the_graph_is_read_from_the_code(graph: Graph) -> None:
    """A sanity check of the reader: imports the code is known to make are found, a
    function-level one and a type-only one included."""
    assert "sabio.store" in graph["sabio.service"]
    assert "sabio.loaders" in graph["sabio.loaders.pdf"]
    assert "sabio.service" in graph["sabio.server.services"]
    assert len(graph) > 60


def test_loaders_never_reach_the_store_or_models(graph: Graph) -> None:
    assert loader_violations(graph) == []


def test_the_core_never_reaches_the_interfaces(graph: Graph) -> None:
    assert core_violations(graph) == []


def test_model_backends_never_reach_documents(graph: Graph) -> None:
    assert model_violations(graph) == []


def test_there_are_no_import_cycles(graph: Graph) -> None:
    assert cycle_violations(graph, KNOWN_CYCLES) == []


# each rule can fail


def _graph(**edges: str) -> dict[str, frozenset[str]]:
    """``sabio_a="sabio.b sabio.c"`` → {"sabio.a": {"sabio.b", "sabio.c"}}."""
    graph = {name.replace("_", "."): frozenset(targets.split()) for name, targets in edges.items()}
    for targets in list(graph.values()):
        for target in targets:
            graph.setdefault(target, frozenset())
    return graph


def test_a_loader_that_imports_the_store_or_a_model_fails() -> None:
    graph = _graph(sabio_loaders_pdf="sabio.loaders sabio.store", sabio_loaders_x="sabio.models")
    assert loader_violations(graph) == [
        "sabio.loaders.pdf imports sabio.store",
        "sabio.loaders.x imports sabio.models",
    ]
    assert loader_violations(_graph(sabio_loaders_pdf="sabio.loaders sabio.errors")) == []


def test_a_core_module_that_imports_an_interface_fails() -> None:
    graph = _graph(sabio_ingest="sabio.server.uploads", sabio_server_api="sabio.ingest")
    assert core_violations(graph) == ["sabio.ingest imports sabio.server.uploads"]
    assert core_violations(_graph(sabio_worker="sabio.terminal")) == [
        "sabio.worker imports sabio.terminal"
    ]
    assert core_violations(_graph(sabio_cli="sabio.service sabio.terminal")) == []


def test_a_model_backend_that_imports_documents_fails() -> None:
    graph = _graph(sabio_models_ollama="sabio.models sabio.loaders sabio.index")
    assert model_violations(graph) == [
        "sabio.models.ollama imports sabio.index",
        "sabio.models.ollama imports sabio.loaders",
    ]
    assert model_violations(_graph(sabio_models_ollama="sabio.connections sabio.errors")) == []


def test_a_cycle_fails_and_a_known_one_must_still_exist() -> None:
    graph = _graph(sabio_a="sabio.b", sabio_b="sabio.c", sabio_c="sabio.a sabio.d")
    assert cycle_violations(graph, {}) == ["import cycle: sabio.a ↔ sabio.b ↔ sabio.c"]
    known = frozenset({"sabio.a", "sabio.b", "sabio.c"})
    assert cycle_violations(graph, {known: "a reason"}) == []
    stale = frozenset({"sabio.x", "sabio.y"})
    assert cycle_violations(_graph(sabio_a="sabio.b"), {stale: "fixed"}) == [
        "no longer a cycle, take it out of KNOWN_CYCLES: ['sabio.x', 'sabio.y']"
    ]


def test_imports_are_read_at_every_level(tmp_path: Path) -> None:
    """Function-level, type-only and relative imports are arrows too."""
    package = tmp_path / "sabio"
    (package / "sources").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "service.py").write_text("def f():\n    from sabio.sources import run\n")
    (package / "sources" / "__init__.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from sabio.service import X\n"
    )
    (package / "sources" / "run.py").write_text("from . import Source\nfrom .. import service\n")
    names = module_names(package)
    graph = {name: imports_of(name, path, names) for name, path in names.items()}
    assert graph["sabio.service"] == {"sabio.sources.run"}
    assert graph["sabio.sources"] == {"sabio.service"}
    assert graph["sabio.sources.run"] == {"sabio.sources", "sabio.service"}
    assert cycles(graph) == [frozenset({"sabio.service", "sabio.sources", "sabio.sources.run"})]
