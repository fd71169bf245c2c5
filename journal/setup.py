"""`journal init`: the journal folder with a commented config, and the export template."""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path

from journal import store
from journal.config import CONFIG_TEMPLATE
from journal.gitstate import find_worktree_root


def default_template() -> str:
    return resources.files("journal").joinpath("default-template.md").read_text(encoding="utf-8")


def initialise(cwd: Path, environ: Mapping[str, str]) -> list[tuple[Path, bool]]:
    cwd = cwd.resolve()
    root = find_worktree_root(cwd, environ)
    journal_dir = store.find_journal_dir(cwd, root, environ)
    template_target = (root or journal_dir.parent) / store.TEMPLATE_NAME
    return store.init_journal(journal_dir, template_target, CONFIG_TEMPLATE, default_template())
