"""Parameters from a command line: `--lr 3e-4`, `--lr=3e-4`, a bare `--flag`, Hydra's `lr=3e-4`.

Values are typed the way a reader expects: int, float, bool, else str. The raw argv is kept in the
record's `command` as well, so nothing is lost when a guess here is wrong.
"""

from __future__ import annotations

import re
from typing import Any

from journal.errors import UsageError
from journal.record import looks_numeric, typed_value
from journal.text import printable

_NAME = re.compile(r"[A-Za-z_][\w.\-/]*")


def _looks_like_value(arg: str) -> bool:
    """A token after `--name` is its value unless it is another option (negative numbers are values)."""
    return not arg.startswith("-") or looks_numeric(arg)


def _param_name(raw: str) -> str | None:
    # argparse turns --batch-size into batch_size; do the same so CLI and API names agree.
    name = raw.replace("-", "_")
    return name if _NAME.fullmatch(raw) else None


def params_from_argv(argv: list[str]) -> dict[str, Any]:
    """Parameters in a command's arguments (argv without the program). The last value wins."""
    params: dict[str, Any] = {}
    index = 0
    while index < len(argv):
        arg = argv[index]
        index += 1
        if arg == "--":
            continue
        if arg.startswith("--"):
            raw, sep, value = arg[2:].partition("=")
            name = _param_name(raw)
            if name is None:
                continue
            if sep:
                params[name] = typed_value(value)
            elif index < len(argv) and _looks_like_value(argv[index]):
                params[name] = typed_value(argv[index])
                index += 1
            else:
                params[name] = True
        elif "=" in arg and not arg.startswith("-"):
            raw, _, value = arg.partition("=")
            if raw.startswith("~"):
                continue                           # Hydra: ~key=v deletes, it sets nothing
            name = _param_name(raw.lstrip("+"))    # Hydra: +key=v adds, ++key=v forces
            if name is not None:
                params[name] = typed_value(value)
    return params


def parse_assignment(text: str, option: str) -> tuple[str, int | float | bool | str]:
    """`K=V` from `--param` / `--metric`; a bad one is a usage error naming the option.

    `--param batch-size=64` is named `batch_size`, as `--batch-size` in the command is, so the
    explicit value replaces the parsed one instead of standing beside it."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise UsageError(f"{option} expects NAME=VALUE, got {text!r}")
    if option == "--param":
        name = name.replace("-", "_")
    return name, typed_value(value.strip())


def parse_metric(text: str) -> tuple[str, int | float]:
    """`NAME=VALUE` from `--metric`: a number (`82.476`, `82.476%`, `1e-3`, `inf`, `nan`), or a
    usage error; a metric that is text would not sort, compare or chart."""
    name, value = parse_assignment(text, "--metric")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        written = text.partition("=")[2].strip()
        number = _special_number(written)
        if number is None:
            raise UsageError(f"--metric {printable(text)!r}: {printable(written)!r} is not a "
                             "number", hint="e.g. --metric acc=82.476 (a % sign may follow)")
        return name, number
    return name, value


def _special_number(text: str) -> int | float | None:
    from journal.capture.patterns import parse_number

    if text.lower() in ("inf", "+inf", "-inf", "nan", "infinity", "-infinity"):
        return float(text)
    return parse_number(text)
