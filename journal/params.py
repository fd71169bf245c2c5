"""Parameters from a command line: `--lr 3e-4`, `--lr=3e-4`, a bare `--flag`, Hydra's `lr=3e-4`.

Values are typed the way a reader expects: int, float, bool, else str. The raw argv is kept in the
record's `command` as well, so nothing is lost when a guess here is wrong.
"""

from __future__ import annotations

import math
import re
from typing import Any

from journal.errors import UsageError

_INT = re.compile(r"[+-]?(?:0|[1-9](?:_?[0-9])*)")   # 1_000 as int() takes it; 007 stays text
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+(?=[eE]))(?:[eE][+-]?[0-9]+)?")
_BOOLS = {"true": True, "false": False, "True": True, "False": False, "TRUE": True, "FALSE": False}
_NAME = re.compile(r"[A-Za-z_][\w.\-/]*")
_INT64 = range(-(2**63), 2**63)


def typed_value(text: str) -> Any:
    """'32' -> 32, '3e-4' -> 0.0003, 'true' -> True, anything else stays a string."""
    if _INT.fullmatch(text):
        number = int(text)
        return number if number in _INT64 else text
    if _FLOAT.fullmatch(text):
        number = float(text)
        return number if math.isfinite(number) else text   # 1e999 keeps its digits
    return _BOOLS.get(text, text)


def _looks_like_value(arg: str) -> bool:
    """A token after `--name` is its value unless it is another option (negative numbers are values)."""
    return not arg.startswith("-") or bool(_INT.fullmatch(arg) or _FLOAT.fullmatch(arg))


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


def parse_assignment(text: str, option: str) -> tuple[str, Any]:
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
