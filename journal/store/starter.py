"""`journal init`, and the export template: the starter files a journal folder begins with.

`journal init` makes the journal folder with a commented `config.toml` and a `.gitignore`, and
puts the default export template at the work-tree root as `.journal-template.md`, never
overwriting a file that is there. `journal export` reads its template from `--template FILE`,
else that file, else the packaged default.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from journal.errors import StoreError, UsageError
from journal.store.config import CONFIG_TEMPLATE
from journal.store.context import Context
from journal.store.files import create_exclusive, read_regular, reason
from journal.store.paths import TEMPLATE_NAME
from journal.store.records import GITIGNORE
from journal.text import printable

DEFAULT_TEMPLATE_NAME = "the default template"
MAX_TEMPLATE_BYTES = 4 << 20


def default_template() -> str:
    return resources.files("journal").joinpath("default-template.md").read_text(encoding="utf-8")


def initialise(context: Context) -> list[tuple[Path, bool]]:
    """Create the journal folder and its starter files, never overwriting one.
    Returns each starter file with whether it was created now."""
    journal_dir = context.journal_dir
    try:
        for sub in ("runs", "logs", "patches"):
            (journal_dir / sub).mkdir(parents=True, exist_ok=True)
        starters = [
            (journal_dir / "config.toml", CONFIG_TEMPLATE),
            (journal_dir / ".gitignore", GITIGNORE),
            (context.root / TEMPLATE_NAME, default_template()),
        ]
        return [(path, create_exclusive(path, text.encode("utf-8"))) for path, text in starters]
    except OSError as exc:
        raise StoreError(f"cannot initialise {journal_dir}: {reason(exc)}") from exc


def export_template(option: Path | None, root: Path) -> tuple[str, str]:
    """The export template's text and how to name it in messages: `option` (--template), else
    `.journal-template.md` at `root`, else the packaged default."""
    if option is not None:
        return _read_template(option), str(option)
    if (root / TEMPLATE_NAME).is_file():
        return _read_template(root / TEMPLATE_NAME), TEMPLATE_NAME
    return default_template(), DEFAULT_TEMPLATE_NAME


def _read_template(path: Path) -> str:
    try:
        return read_regular(path, MAX_TEMPLATE_BYTES).decode("utf-8-sig")
    except OSError as exc:
        raise UsageError(f"cannot read the template {printable(str(path))}: "
                         f"{exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"the template {printable(str(path))} is not UTF-8 text") from None
