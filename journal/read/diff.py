"""`journal diff A B`: what changed between two runs, the way a reviewer reads it.

Params and metrics first (the ones that differ, with the difference for numbers, then the rest),
then note, status, duration, command and tags, then the code: the commits from A's to B's, and
the difference between the exact code of the two runs (each run's commit with its uncommitted
patch applied).

The code is compared by `codediff`, which only reads the user's repository. This module reads
the records and patch files and lays everything out: deterministic (absolute times, no colour,
fixed widths), so the output reads the same on a terminal, in a pipe or in a file.

Everything shown comes from records and repositories, so every line passes through `text.printable`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import shlex
import tempfile
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TextIO

from journal.git import GitFailed, exclude_pathspec
from journal.read.codediff import NoCode, State, compare
from journal.record import (
    Record,
    StoredRun,
    amendment_text,
    flat_params,
    is_number,
    table,
    text_list,
)
from journal.store.config import load_config
from journal.store.context import Context
from journal.store.files import open_regular
from journal.store.paths import find_worktree_root, inside_journal
from journal.store.source import RunSource
from journal.text import display_width, human_duration, pad, printable, printable_block, time_text


class _Missing:
    """A value one of the two runs does not have."""


MISSING = _Missing()
NAME_WIDTH = 24         # name column of params/metrics; longer names push their row out
VALUE_WIDTH = 24        # value columns are aligned up to this width
WRAP = 100              # the "same:" paragraph
_PLAIN = re.compile(r"[^\s\"'=,\u2192]+")


def diff_runs(source: RunSource, ref1: str, ref2: str, *, out: TextIO, context: Context) -> None:
    """Write the comparison of runs `ref1` (A) and `ref2` (B) to `out`."""
    a, b = source.resolve(ref1), source.resolve(ref2)
    if a.id == b.id:
        out.write(printable(f"{ref1} and {ref2} are the same run: {a.id}") + "\n")
        return
    lines = _header(a, b)
    lines += _compared("params", flat_params(a.record), flat_params(b.record))
    lines += _compared("metrics", table(a.record, "metrics"), table(b.record, "metrics"))
    lines += _environment(table(a.record, "environment"), table(b.record, "environment"))
    lines += _facts(a, b)
    code, patch = _code(source.journal_dir, a, b, context.environ, context.cwd)
    lines += ["", *code]
    text = "\n".join(lines) + "\n"
    if patch:
        text += "\n" + printable_block(patch.decode("utf-8", "surrogateescape"))
        if not text.endswith("\n"):
            text += "\n"
    out.write(text)


# -- params, metrics and the other fields -------------------------------------------------------

def _header(a: StoredRun, b: StoredRun) -> list[str]:
    return [f"{side}: {printable(run.id)}  started {_when(run.record.get('started'))}"
            for side, run in (("A", a), ("B", b))]


def _compared(title: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    names = list(dict.fromkeys([*old, *new]))
    if not names:
        return ["", f"{title}: none in either run"]
    changed = [name for name in names if not _same(old.get(name, MISSING), new.get(name, MISSING))]
    same = [name for name in names if name not in changed]
    if not changed:
        lines = ["", f"{title}: all {len(names)} the same"]
    else:
        lines = ["", f"{title}: {len(changed)} of {len(names)} differ"]
    rows = [(printable(name), _show(old.get(name, MISSING)), _show(new.get(name, MISSING)),
             _difference(old.get(name, MISSING), new.get(name, MISSING))) for name in changed]
    name_width = min(max((display_width(row[0]) for row in rows), default=0), NAME_WIDTH)
    old_width = min(max((display_width(row[1]) for row in rows), default=0), VALUE_WIDTH)
    new_width = min(max((display_width(row[2]) for row in rows), default=0), VALUE_WIDTH)
    for name, old_text, new_text, difference in rows:
        line = f"  {pad(name, name_width)}  {pad(old_text, old_width)} \u2192 "
        line += f"{pad(new_text, new_width)}  ({difference})" if difference else new_text
        lines.append(line.rstrip())
    if same:
        lines += _wrapped("  same: ", [f"{printable(name)}={_show(old[name])}" for name in same])
    return lines


def _environment(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What the programs ran on: interpreter, platform, GPUs, and package versions (a changed
    version is a difference worth seeing). Only what both runs recorded is compared: a run of
    a shell command has no packages to compare with."""
    if not old or not new:
        return [] if not old and not new else ["", f"environment: only in {'B' if new else 'A'}"]
    old_flat, new_flat = _flat_environment(old), _flat_environment(new)
    names = [name for name in dict.fromkeys([*old_flat, *new_flat])
             if (name in old_flat and name in new_flat)
             or (name.startswith("package ") and "packages" in old and "packages" in new)]
    changed = [name for name in names
               if not _same(old_flat.get(name, MISSING), new_flat.get(name, MISSING))]
    if not changed:
        return ["", f"environment: the same ({len(names)} facts and packages)"]
    lines = ["", f"environment: {len(changed)} of {len(names)} differ"]
    for name in changed:
        lines.append(f"  {printable(name)}  {_show(old_flat.get(name, MISSING))} \u2192 "
                     f"{_show(new_flat.get(name, MISSING))}")
    return lines


def _flat_environment(environment: Mapping[str, Any]) -> dict[str, Any]:
    flat = {name: value for name, value in environment.items() if name != "packages"}
    packages = environment.get("packages")
    if isinstance(packages, Mapping):
        flat.update({f"package {name}": version for name, version in packages.items()})
    return flat


def _wrapped(lead: str, items: list[str]) -> list[str]:
    lines, current = [], lead
    for item in items:
        if current != lead and len(current) + len(item) + 2 > WRAP:
            lines.append(current.rstrip(", ").rstrip())
            current = " " * len(lead)
        current += item + ", "
    lines.append(current.rstrip(", ").rstrip())
    return lines


def _same(old: object, new: object) -> bool:
    if is_number(old) and is_number(new):
        return bool(old == new or (math.isnan(old) and math.isnan(new)))
    return type(old) is type(new) and bool(old == new)


def _show(value: object) -> str:
    """A value as one safe line; strings quoted when they could be read as something else."""
    if value is MISSING:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    if isinstance(value, str):
        if _PLAIN.fullmatch(value) and not _looks_typed(value):
            return printable(value)
        return printable(json.dumps(value, ensure_ascii=False))
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    return printable(json.dumps(value, ensure_ascii=False, default=str))


def _looks_typed(text: str) -> bool:
    if text in ("true", "false", "nan", "inf", "(none)"):
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def _difference(old: object, new: object) -> str | None:
    """`+1.276` for numbers, exact in decimal (82.476 - 81.2 is not 1.2759999999999962)."""
    if not (is_number(old) and is_number(new)) or old == new:
        return None
    if isinstance(old, int) and isinstance(new, int):
        return f"{new - old:+d}"
    try:
        delta = Decimal(repr(float(new))) - Decimal(repr(float(old)))
    except InvalidOperation:
        return None           # nan or inf on one side
    if not delta.is_finite():
        return None
    return f"{delta:+f}" if -6 < delta.adjusted() < 15 else f"{delta:+e}"


def _facts(run_a: StoredRun, run_b: StoredRun) -> list[str]:
    a, b = run_a.record, run_b.record
    lines = [""]
    lines += _note(a, b)
    lines.append(_pair("status", printable(run_a.status), printable(run_b.status)))
    lines.append(_pair("duration", _duration(a.get("duration")), _duration(b.get("duration")),
                       _duration_difference(a.get("duration"), b.get("duration"))))
    if "command" in a or "command" in b:
        old, new = _command(a.get("command")), _command(b.get("command"))
        if old == new:
            lines.append(f"command   same: {old}")
        else:
            lines += ["command", f"  A: {old}", f"  B: {new}"]
    lines.append(_tags(a.get("tags"), b.get("tags")))
    return lines


def _pair(title: str, old: str, new: str, difference: str | None = None) -> str:
    if old == new:
        return f"{title:<9} same: {old}"
    return f"{title:<9} {old} \u2192 {new}" + (f"  ({difference})" if difference else "")


def _note_lines(record: Record) -> list[str]:
    note = record.get("note")
    lines = printable_block(str(note)).splitlines() if note else []
    lines = lines or ["(no note)"]
    amendments = record.get("amendments")
    for amendment in amendments if isinstance(amendments, list) else []:
        if isinstance(amendment, Mapping):
            text = printable_block(amendment_text(amendment)).splitlines() or [""]
            lines.append(f"amended {_when(amendment.get('at'))}: {text[0]}")
            lines += ["  " + line for line in text[1:]]
    return [line.replace("\t", "    ") for line in lines]


def _note(a: Record, b: Record) -> list[str]:
    old, new = _note_lines(a), _note_lines(b)
    if old == new:
        return ["note      same:", *("  " + line for line in old)]
    lines = ["note"]
    for side, text in (("A", old), ("B", new)):
        lines.append(f"  {side}: {text[0]}")
        lines += ["     " + line for line in text[1:]]
    return lines


def _command(argv: object) -> str:
    if not isinstance(argv, list):
        return "(none)"
    return printable(shlex.join(str(arg) for arg in argv))


def _tags(old: object, new: object) -> str:
    old = [str(tag) for tag in old] if isinstance(old, list) else []
    new = [str(tag) for tag in new] if isinstance(new, list) else []
    changes = [f"-{tag}" for tag in old if tag not in new]
    changes += [f"+{tag}" for tag in new if tag not in old]
    return _pair("tags", printable(", ".join(old)) or "(none)",
                 printable(", ".join(new)) or "(none)", printable(" ".join(changes)) or None)


def _when(value: object) -> str:
    return "(unknown)" if value is None else printable(time_text(value))


def _duration(seconds: object) -> str:
    if not is_number(seconds) or not math.isfinite(seconds):
        return "(none)"
    return human_duration(seconds)


def _duration_difference(old: object, new: object) -> str | None:
    if not (is_number(old) and is_number(new)) or old == new:
        return None
    delta = float(new) - float(old)
    return ("+" if delta >= 0 else "-") + _duration(delta)


# -- the code -----------------------------------------------------------------------------------

def _code(journal_dir: Path, a: StoredRun, b: StoredRun, environ: Mapping[str, str], cwd: Path
          ) -> tuple[list[str], bytes]:
    """The code section's lines, and the diff from A's code to B's."""
    lines = ["code"]
    for side, run in (("A", a), ("B", b)):
        lines += _describe(side, run.record.get("git"))
    try:
        states = [_state(side, run, journal_dir, lines) for side, run in (("A", a), ("B", b))]
        root = find_worktree_root(journal_dir.parent, environ) or find_worktree_root(cwd, environ)
        if root is None:
            raise NoCode("no git repository here to compare their code in")
        timeout = max(load_config(journal_dir, environ).git_timeout, 30.0)
        with tempfile.TemporaryDirectory(prefix="journal-diff-") as scratch:
            found, diff = compare(
                root, *states, excluded=exclude_pathspec(root, journal_dir), timeout=timeout,
                environ=environ, scratch=Path(scratch))
        lines += found
        if not diff:
            lines.append("  their code is the same")
            return lines, b""
        lines.append("  difference between their code (commits and uncommitted changes):")
        return lines, diff
    except NoCode as exc:
        lines.append(f"  {printable(str(exc))}")
    except GitFailed as exc:
        lines.append(f"  the code could not be compared: {printable(str(exc))}")
    return lines, b""


def _state(side: str, run: StoredRun, journal_dir: Path, notes: list[str]) -> State:
    state = run.record.get("git")
    if not isinstance(state, Mapping):
        raise NoCode("the code cannot be compared: a run outside git has no code state")
    commit = state.get("commit")
    if commit is not None and not (isinstance(commit, str)
                                   and re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", commit)):
        raise NoCode(f"the code cannot be compared: run {side} names no valid commit "
                     f"({printable(repr(commit))})")
    return State(side, commit, _patch(side, state, journal_dir, notes))


def _describe(side: str, state: object) -> list[str]:
    if not isinstance(state, Mapping):
        return [f"  {side}: not in a git repository"]
    commit = state.get("commit")
    where = _short(commit) if isinstance(commit, str) else "no commit yet"
    if isinstance(state.get("branch"), str):
        where += f" on {printable(state['branch'])}"
    changed = [*text_list(state.get("changed")), *text_list(state.get("untracked"))]
    if changed:
        shown = ", ".join(printable(path) for path in changed[:10])
        more = f" and {len(changed) - 10} more" if len(changed) > 10 else ""
        where += f", uncommitted changes in {shown}{more}"
    elif state.get("dirty") is False:
        where += ", clean"
    lines = [f"  {side}: {where}"]
    if state.get("left_out"):
        lines.append(f"     not in its patch: {printable(', '.join(text_list(state['left_out'])))}")
    if state.get("partial"):
        partial = ", ".join(text_list(state["partial"]))
        lines.append(f"     only partly captured: {printable(partial)}")
    return lines


def _short(commit: str) -> str:
    return printable(commit[:7])


def _patch(side: str, state: Mapping[str, Any], journal_dir: Path, notes: list[str]) -> bytes:
    recorded = state.get("patch")
    if not recorded:
        return b""
    path = inside_journal(journal_dir, str(recorded))
    if path is None:
        notes.append(f"  the patch path of run {side} points outside the journal "
                     f"({printable(str(recorded))}): comparing its commit only")
        return b""
    try:
        with open_regular(path) as handle:
            return handle.read()
    except OSError as exc:
        notes.append(f"  the patch of run {side} ({printable(str(recorded))}) is missing "
                     f"({printable(exc.strerror or str(exc))}): its uncommitted changes are "
                     "left out")
        return b""
