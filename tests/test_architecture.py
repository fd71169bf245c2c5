"""Arrows point down: the CLI uses the rest; leaves do not import each other; typer stays in cli.py."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "journal"
LEAVES = {"gitstate", "runner", "redact", "params", "tomlwrite", "errors", "config", "store",
          "patterns", "sidefile", "report"}
# What each leaf may import from the package (besides the base modules every module may use).
BASE = {"errors", "safetext", "durations"}
ALLOWED = {"store": {"tomlwrite"}, "tomlwrite": set(), "gitstate": {"store"}}


def _imports(module: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            if node.module == "journal":
                found.update(f"journal.{alias.name}" for alias in node.names)
    return found


def test_leaves_do_not_import_each_other() -> None:
    for name in LEAVES:
        ours = {imp.split(".")[1] for imp in _imports(PACKAGE / f"{name}.py")
                if imp.startswith("journal.")}
        assert ours <= ALLOWED.get(name, set()) | BASE, (name, ours)


def test_only_cli_uses_typer() -> None:
    for module in PACKAGE.glob("*.py"):
        if module.name != "cli.py":
            assert not any(imp.split(".")[0] in {"typer", "click"} for imp in _imports(module)), module


def test_nothing_imports_click_directly() -> None:
    for module in PACKAGE.glob("*.py"):
        assert "click" not in {imp.split(".")[0] for imp in _imports(module)}, module


def test_markdown_it_and_rich_each_live_in_one_module() -> None:
    """Markdown is parsed in one place (journal/markdown.py) and drawn on a terminal in one place
    (journal/showing.py): others use their functions, so the escaping rules cannot fork."""
    owners = {"markdown_it": "markdown.py", "rich": "showing.py"}
    for module in PACKAGE.glob("*.py"):
        used = {imp.split(".")[0] for imp in _imports(module)}
        for package, owner in owners.items():
            assert package not in used or module.name == owner, (module.name, package)
