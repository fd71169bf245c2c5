"""The filters shared by list, grep and export: `--since/--until/--tag/--status/--host/--user/
--where`.

Parsed once into a `Filters` value that can test a record in Python and, for the index, say the
same thing in SQL, so both paths select exactly the same runs.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from journal.errors import UsageError
from journal.record import STATUSES, aware, id_time, is_note_only, param_value, typed_value
from journal.text import printable

# `3d`, `12h`, `90min`, `2w`, `3mo`, `1y`, and the same written out (`2 days ago`). A bare `m`
# is refused: git users read a month there, others a minute.
_RELATIVE = re.compile(
    r"(?P<count>\d+)\s*(?P<unit>m|mins?|minutes?|h|hours?|d|days?|w|weeks?|mo|months?|y|years?)"
    r"(?:\s+ago)?", re.I)
_UNIT_SECONDS = {"min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_UNIT_MONTHS = {"mo": 1, "y": 12}
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# NAME OP VALUE. A name may hold spaces (`Hoge1 Acc>77`, as the report pattern names it) or be
# quoted (`"a<b"=1`, `metrics."Hoge1 Acc">77`, `\"` inside), and take `params.` or `metrics.`.
_CONDITION = re.compile(
    r'\s*(?:(?P<table>params|metrics)\.)?'
    r'(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<name>[^\s<>=!~"](?:[^<>=!~]*[^\s<>=!~])?))'
    r"\s*(?P<op>>=|<=|!=|==|=|>|<|~)\s*(?P<value>.*?)\s*")
WHEN_HELP = ("a date (2026-11-23, 30 Nov 2026), a time (2026-11-23T14:00), 90min, 12h, 3d, 2w, "
             "3mo, 1y, today, yesterday, a weekday, or a phrase (2 days ago, last monday)")


@dataclass(frozen=True)
class Condition:
    """`acc>0.8`, `opt=adam`, `params.lr<=1e-3`, `note~leak` (regex)."""

    table: str | None      # "params", "metrics", or None: metrics first, then params
    name: str
    op: str
    value: Any

    def test(self, record: Mapping[str, Any]) -> bool:
        actual = lookup(record, self.table, self.name)
        return compare(actual, self.op, self.value)


@dataclass(frozen=True)
class Filters:
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    tags: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    where: tuple[Condition, ...] = field(default=())
    hosts: tuple[str, ...] = ()        # the machine that ran it (any of them)
    users: tuple[str, ...] = ()        # who ran it (any of them)

    @property
    def empty(self) -> bool:
        return not (self.since or self.until or self.tags or self.statuses or self.where
                    or self.hosts or self.users)

    def matches(self, record: Mapping[str, Any], status: str) -> bool:
        """`status` is the run's effective status (a dead wrapper's `running` is `crashed`)."""
        started = record.get("started")
        if self.since or self.until:
            if not isinstance(started, dt.datetime):
                return False
            started = aware(started)
            if self.since and started < self.since:
                return False
            if self.until and started >= self.until:
                return False
        if self.tags:
            tags = record.get("tags")
            tags = tags if isinstance(tags, list) else []     # as the index reads it
            if not all(tag in tags for tag in self.tags):
                return False
        if self.statuses and ("note" if is_note_only(record) else status) not in self.statuses:
            return False      # a note-only entry is `note`, as every listing shows it
        if self.hosts and record.get("host") not in self.hosts:
            return False
        if self.users and record.get("user") not in self.users:
            return False
        return all(condition.test(record) for condition in self.where)


MISSING = object()    # what `lookup` gives for a name the run does not have


def lookup(record: Mapping[str, Any], table: str | None, name: str) -> Any:
    """A metric's or param's value (params by dotted name into nested ones; None for a param
    the program had as None), a field's, or MISSING."""
    if table == "params":
        params = record.get("params")
        return param_value(params, name, MISSING) if isinstance(params, Mapping) else MISSING
    if table is not None:
        values = record.get(table)
        return values.get(name, MISSING) if isinstance(values, Mapping) else MISSING
    metrics = record.get("metrics")
    if isinstance(metrics, Mapping) and name in metrics:
        return metrics[name]
    params = record.get("params")
    found = param_value(params, name, MISSING) if isinstance(params, Mapping) else MISSING
    if found is not MISSING:
        return found
    value = record.get(name)
    return value if isinstance(value, (str, int, float, bool)) else MISSING


NONE_WORDS = ("None", "null")    # `--where resume=None`: a param the program had as None


def compare(actual: Any, op: str, wanted: Any) -> bool:
    if actual is MISSING:
        return op == "!="
    if actual is None:
        if isinstance(wanted, str) and wanted in NONE_WORDS and op in ("=", "==", "!="):
            return op != "!="
        return op == "!="
    if op == "~":
        return wanted.search(str(actual)) is not None
    if isinstance(actual, bool) or isinstance(wanted, bool):
        equal = actual == wanted if isinstance(actual, bool) == isinstance(wanted, bool) else False
        return equal if op in ("=", "==") else (not equal if op == "!=" else False)
    if isinstance(actual, (int, float)) and isinstance(wanted, (int, float)):
        if isinstance(actual, float) and math.isnan(actual):
            return op == "!="
        # Compared as they are, not as floats: 2**53 + 1 > 2**53, as SQLite says too.
        return _OPERATORS[op](actual, wanted)
    if op in ("=", "==", "!="):
        return _OPERATORS[op](str(actual), str(wanted))
    return False     # ordering a string against a number means nothing


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq, "==": operator.eq, "!=": operator.ne,
    ">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le,
}


def parse_condition(text: str) -> Condition:
    match = _CONDITION.fullmatch(text)
    if not match or not match["value"] and match["op"] not in ("=", "==", "!="):
        raise UsageError(
            f"bad --where {printable(repr(text))}",
            hint="write NAME OP VALUE with OP one of = != > < >= <= ~ (regex), e.g. acc>0.8, "
                 'opt=adam or "Hoge1 Acc">77',
        )
    table = match["table"]
    name = re.sub(r"\\(.)", r"\1", match["quoted"]) if match["quoted"] is not None \
        else match["name"]
    op, raw = match["op"], match["value"]
    if op != "~" and raw[:1] in ("<", ">", "=", "!", "~"):     # `acc>>1`, `acc=>1`: a typo
        raise UsageError(f"bad --where {printable(repr(text))}: {printable(op + raw[:1])!r} is "
                         f"not an operator", hint="OP is one of = != > < >= <= ~, e.g. acc>=0.8")
    if op == "~":
        try:
            value: Any = re.compile(raw)
        except (re.error, OverflowError, RecursionError) as exc:
            raise UsageError(f"bad regex in --where {printable(repr(text))}: {exc}") from None
    elif len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        # `opt="adam"`, `seed='42'`: quoted, so text; `\"` and `\\` inside stand for themselves
        value = re.sub(r"\\([\"'\\])", r"\1", raw[1:-1])
    else:
        value = typed_value(raw)
        if op in (">", "<", ">=", "<=") and isinstance(value, (bool, str)):
            raise UsageError(f"bad --where {printable(repr(text))}: {op} needs a number",
                             hint="e.g. acc>0.8; compare text with = or ~")
    return Condition(table, name, op, value)


def parse_when(text: str, now: dt.datetime, *, end: bool = False) -> dt.datetime:
    """A point in time from the user's words. A day (`2026-11-23`, `yesterday`, `monday`) means its
    start for --since and its end for --until, so `--until 2026-11-23` includes that day. Years
    outside 1900-9000 are refused: converting them between zones would overflow."""
    try:
        moment = _parse_when(text, now, end=end)
        if _EARLIEST <= moment.replace(tzinfo=None) <= _LATEST:
            return moment
    except (OverflowError, ValueError):    # year 10000, 5,000 digits of days
        pass
    raise UsageError(f"the time {printable(repr(text))} is out of range",
                     hint="use a time between the years 1900 and 9000")


FILTER_STATUSES = (*STATUSES, "note")     # `note`: a note-only entry (its record says finished)
_EARLIEST, _LATEST = dt.datetime(1900, 1, 1), dt.datetime(9000, 1, 1)


def _parse_when(text: str, now: dt.datetime, *, end: bool = False) -> dt.datetime:
    word = text.strip().lower()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    day: dt.datetime | None = None
    if word == "now":
        return now
    if word == "today":
        day = today
    elif word == "yesterday":
        day = today - dt.timedelta(days=1)
    elif (weekday := _weekday(word)) is not None:
        day = today - dt.timedelta(days=(today.weekday() - weekday) % 7)
    elif match := _RELATIVE.fullmatch(word):
        return _ago(int(match["count"]), match["unit"].lower(), now, text)
    else:
        day = _date(text.strip(), now)
        if day is None:
            try:
                parsed = dt.datetime.fromisoformat(text.strip())
            except ValueError:
                return _phrase(text, now, end=end)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=now.tzinfo)
    return day + dt.timedelta(days=1) if end else day


def _weekday(word: str) -> int | None:
    """Monday 0 ... Sunday 6 for a weekday's name or its first three letters or more (`mon`,
    `thurs`), so that `mon` and `monday` mean the same day."""
    if len(word) >= 3:
        for number, name in enumerate(_WEEKDAYS):
            if name.startswith(word):
                return number
    return None


def _ago(count: int, unit: str, now: dt.datetime, text: str) -> dt.datetime:
    if unit == "m":
        raise UsageError(f"{printable(repr(text))} is ambiguous: m is a minute to some and a "
                         "month to git", hint=f"say {count}min or {count}mo")
    short = "min" if unit.startswith("min") else "mo" if unit.startswith("mo") else unit[0]
    if short in _UNIT_MONTHS:        # calendar months: 1mo before March 31 is February 28
        months = now.year * 12 + now.month - 1 - count * _UNIT_MONTHS[short]
        year, month = divmod(months, 12)
        last_day = calendar.monthrange(year, month + 1)[1] if year >= 1 else 31
        return now.replace(year=year, month=month + 1, day=min(now.day, last_day))
    return now - dt.timedelta(seconds=count * _UNIT_SECONDS[short])


_TIME_OF_DAY = re.compile(r"\d:\d|\b(?:am|pm|noon|midnight)\b", re.I)


def _phrase(text: str, now: dt.datetime, *, end: bool) -> dt.datetime:
    """What people write (`last monday`, `30 Nov 2026`, `3 weeks ago`, `yesterday 14:00`),
    read by dateparser, loaded only here: the forms above cost nothing to start. A phrase that
    names a day (no time of day) means that whole day, as a date does."""
    if not re.search(r"[^\W\d_]", text):
        # Digits alone beyond ISO (11/12/2026, 2026-13-01, 5) are read differently from place
        # to place, or guessed at: refused rather than guessed.
        raise UsageError(f"cannot read the time {printable(repr(text))}",
                         hint="write a date as 2026-11-23, or with its month's name: 23 Nov 2026")
    import dateparser  # type: ignore[import-untyped]   # it ships no types

    settings = {"RELATIVE_BASE": now.replace(tzinfo=None), "PREFER_DATES_FROM": "past"}
    parsed: dt.datetime | None = dateparser.parse(text, languages=["en"], settings=settings)
    if parsed is None:
        raise UsageError(f"cannot read the time {printable(repr(text))}", hint=f"use {WHEN_HELP}")
    moment = parsed if parsed.tzinfo else parsed.replace(tzinfo=now.tzinfo)
    if moment.time() == dt.time(0) and not _TIME_OF_DAY.search(text):
        return moment + dt.timedelta(days=1) if end else moment
    return moment


def _date(text: str, now: dt.datetime) -> dt.datetime | None:
    """A bare date (`2026-11-23`, also `20261123` and `2026/11/23`: the year first, so no
    order to guess) as the start of that day, else None."""
    if re.fullmatch(r"\d{4}/\d{1,2}/\d{1,2}", text):
        year, month, day_of_month = map(int, text.split("/"))
        text = f"{year:04d}-{month:02d}-{day_of_month:02d}"
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        return None
    return dt.datetime(day.year, day.month, day.day, tzinfo=now.tzinfo)


def build_filters(
    *,
    since: str | None = None,
    until: str | None = None,
    tags: Sequence[str] = (),
    statuses: Sequence[str] = (),
    where: Sequence[str] = (),
    hosts: Sequence[str] = (),
    users: Sequence[str] = (),
    now: dt.datetime,
) -> Filters:
    """The filters the options give; `now` is what relative times (3d, yesterday) count from."""
    moment = now
    for status in statuses:
        if status not in FILTER_STATUSES:
            raise UsageError(f"unknown status {printable(repr(status))}",
                             hint="one of " + ", ".join(FILTER_STATUSES))
    return Filters(
        since=parse_when(since, moment) if since else None,
        until=parse_when(until, moment, end=True) if until else None,
        tags=tuple(tags),
        statuses=tuple(statuses),
        where=tuple(parse_condition(text) for text in where),
        hosts=tuple(hosts),
        users=tuple(users),
    )


def id_may_match(run_id: str, filters: Filters) -> bool:
    """Ids start with their UTC start time, so a time range rules most ids out unread."""
    if not (filters.since or filters.until):
        return True
    started = id_time(run_id)
    if started is None:
        return True
    # A minute of slack: hand-made ids and clocks that disagree about the millisecond.
    slack = dt.timedelta(minutes=1)
    if filters.since and started < filters.since - slack:
        return False
    return not (filters.until and started >= filters.until + slack)
