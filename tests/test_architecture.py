"""The house rules that hold for every change (docs/architecture.md): no import circle anywhere, and no
source file over 300 lines. The layers themselves are import-linter's contracts (`lint-imports`)."""

from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("models", "forecasting", "training", "service", "bench", "deploy", "tests")
MAX_LINES = 300


def import_circles() -> list[list[str]]:
    """Groups of modules that import each other, directly or through others (Tarjan's strongly connected
    components of grimp's graph; type-checking imports count, and `from pkg import sub` imports pkg.sub)."""
    graph = grimp.build_graph(*PACKAGES, include_external_packages=False, exclude_type_checking_imports=False)
    index: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = lowest[module] = len(index)
        stack.append(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                lowest[module] = min(lowest[module], lowest[imported])
            elif imported in stack:
                lowest[module] = min(lowest[module], index[imported])
        if lowest[module] == index[module]:
            group = stack[stack.index(module) :]
            del stack[stack.index(module) :]
            if len(group) > 1:
                circles.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return circles


def test_no_module_takes_part_in_an_import_circle() -> None:
    assert import_circles() == []


def test_no_source_file_is_over_300_lines() -> None:
    sources = [path for package in PACKAGES[:-1] for path in (REPO / package).rglob("*.py")]
    lengths = {str(path.relative_to(REPO)): len(path.read_text().splitlines()) for path in sources}
    assert {path: lines for path, lines in lengths.items() if lines > MAX_LINES} == {}
