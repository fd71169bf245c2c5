"""The layout holds: arrows point down, no cycles, each heavy library has one owner.

Every module of the package is checked by the folder it is in, so a new module is covered the
day it is written. Every import counts: at module level, inside functions, and under
`TYPE_CHECKING` (a cycle hidden behind a lazy import is still a cycle). The one exemption is the
package's `__init__`, which hands on the public API lazily.

    errors, text            import nothing of journal's
    record                  the record type: imports only text
    git, redact             import only the three above
    store/                  the .journal folder: record, errors, text
    capture/                the write path: those, git, redact, store
    amend                   a user's changes to a record: record, redact, store
    render/                 runs as text: record, errors, text, store
    read/                   reading commands: everything but capture, api and cli
    sync/                   the journal exchanged through a git remote: record, git, redact, store
    api/                    the Python API: everything but read and cli
    cli/                    the command line: anything
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "journal"
BASE = {"journal.errors", "journal.text"}
# What each part may import from the package (besides itself). A part is a top-level module or a
# folder; `journal` (the package's __init__) may be imported by anyone for __version__.
MAY_IMPORT: dict[str, set[str]] = {
    "journal.errors": set(),
    "journal.text": set(),
    "journal.record": {"journal.text"},
    "journal.git": {"journal.record", *BASE},
    "journal.redact": {"journal.record", *BASE},
    "journal.store": {"journal.record", *BASE},
    "journal.capture": {"journal.record", "journal.git", "journal.redact", "journal.store", *BASE},
    "journal.amend": {"journal.record", "journal.redact", "journal.store", *BASE},
    "journal.render": {"journal.record", "journal.store", *BASE},
    "journal.read": {"journal.record", "journal.git", "journal.redact", "journal.store",
                     "journal.render", *BASE},
    "journal.sync": {"journal.record", "journal.git", "journal.redact", "journal.store", *BASE},
    "journal.api": {"journal.record", "journal.redact", "journal.store", "journal.capture",
                    "journal.render", *BASE},
    "journal.cli": {"journal", "journal.record", "journal.git", "journal.redact", "journal.store",
                    "journal.capture", "journal.amend", "journal.render", "journal.read",
                    "journal.api", "journal.sync", *BASE},
    "journal.__main__": {"journal.cli"},
}
EXEMPT = {"journal"}     # the package's __init__: lazy re-exports of the public API
# Heavy or special libraries, each imported in one context only, so its use cannot spread.
OWNERS = {
    "typer": {"journal.cli.app"},
    # typer vendors it: use typer.*; the Python hook reads a program's own click commands
    "click": {"journal.capture.pyhook._journal_hook"},
    "markdown_it": {"journal.render.markdown"},
    "rich": {"journal.read.show"},
    "plotille": {"journal.render.plot"},      # journal plot only
    "dateparser": {"journal.store.filters"},  # --since/--until phrases only
    "tomlkit": {"journal.store.records"},
    "sqlite3": {"journal.store.index"},
    "git": set(),                         # GitPython: declared again with the code that uses it
}
ANYWHERE_IN = {"tomllib": "journal.store"}   # the TOML reader: storage only


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports(path: Path) -> Iterator[str]:
    """Every module `path` imports, at any depth of the code (functions, TYPE_CHECKING)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}: relative import"
            yield node.module
            for alias in node.names:      # `from journal.store import sidefile`: the module
                if f"{node.module}.{alias.name}" in MODULES:
                    yield f"{node.module}.{alias.name}"


def ours(path: Path) -> set[str]:
    """The package's own modules `path` imports (the deepest known name of each)."""
    found = set()
    for name in imports(path):
        if name == "journal" or name.startswith("journal."):
            while name not in MODULES and "." in name:
                name = name.rsplit(".", 1)[0]
            found.add(name)
    return found


def part_of(module: str) -> str:
    """The part a module belongs to: its top-level module, or its folder."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def test_every_module_belongs_to_a_part_with_rules() -> None:
    unknown = [name for name in MODULES if name not in EXEMPT and part_of(name) not in MAY_IMPORT]
    assert not unknown, f"modules outside every part (give them a folder or a rule): {unknown}"


@pytest.mark.parametrize("module", sorted(set(MODULES) - EXEMPT))
def test_arrows_point_down(module: str) -> None:
    part = part_of(module)
    allowed = MAY_IMPORT[part] | {part}
    wrong = {name for name in ours(MODULES[module]) if part_of(name) not in allowed}
    assert not wrong, f"{module} ({part}) may not import {sorted(wrong)}"


def test_no_import_cycles() -> None:
    """A depth-first walk over every import between the package's modules."""
    graph = {name: ours(path) - EXEMPT - {name} for name, path in MODULES.items()
             if name not in EXEMPT}
    state: dict[str, int] = {}          # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for target in sorted(graph.get(name, ())):
            if state.get(target) == 1:
                cycle = path[path.index(target):] + [target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


@pytest.mark.parametrize("library", sorted(OWNERS))
def test_each_heavy_library_has_one_owner(library: str) -> None:
    users = {name for name, path in MODULES.items()
             if any(imp.split(".")[0] == library for imp in imports(path))}
    assert users <= OWNERS[library], f"{library} is imported by {sorted(users - OWNERS[library])}"


@pytest.mark.parametrize("library", sorted(ANYWHERE_IN))
def test_libraries_kept_in_their_part(library: str) -> None:
    users = {name for name, path in MODULES.items()
             if any(imp.split(".")[0] == library for imp in imports(path))}
    assert all(part_of(name) == ANYWHERE_IN[library] for name in users), sorted(users)


def test_the_checks_see_an_arrow_that_points_up(tmp_path: Path) -> None:
    """The rules would catch a store module importing the CLI, even from inside a function."""
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from journal.cli.app import app\n    return app\n")
    found = ours(sample)
    assert found == {"journal.cli.app"}
    assert not {part_of(name) for name in found} <= MAY_IMPORT["journal.store"] | {"journal.store"}
