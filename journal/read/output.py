"""Where a command's text goes: stdout, or a file that is never replaced without `--force`
(`journal export -o FILE`, `journal plot --svg FILE`)."""

from __future__ import annotations

from pathlib import Path
from typing import IO

from journal.errors import UsageError
from journal.text import printable


def write_output(text: str, output: Path | None, *, force: bool, out: IO[str],
                 option: str = "-o") -> None:
    """stdout, or FILE: never replacing an existing file unless `force` (then atomically), never
    making a folder (a mistyped path is an error, not a new tree). `option` names the option
    that gave the file, for the messages."""
    if output is None:
        out.write(text)
        out.flush()
        return
    from journal.store.files import create_exclusive, write_atomic

    data = text.encode("utf-8")
    if not output.name or output.is_dir():
        raise UsageError(f"{option} needs a file name, not {printable(repr(str(output)))}")
    if not output.parent.is_dir():
        raise UsageError(f"cannot write {printable(str(output))}: there is no folder "
                         f"{printable(str(output.parent))}")
    try:
        if force:
            # A link (a note linked into a notes vault) is written through, so it stays linked;
            # a device or a FIFO is never renamed over (as root, `-o /dev/null` would remove it).
            target = output.resolve()
            if target.exists() and not target.is_file():
                raise UsageError(f"{printable(str(output))} is not a regular file: not replacing it")
            write_atomic(target, data)
        elif not create_exclusive(output, data):
            raise UsageError(f"{printable(str(output))} exists: not overwriting it",
                             hint="add --force to replace it")
    except IsADirectoryError:
        raise UsageError(f"cannot write {printable(str(output))}: it is a directory") from None
    except OSError as exc:
        raise UsageError(f"cannot write {printable(str(output))}: {exc.strerror or exc}") from None
