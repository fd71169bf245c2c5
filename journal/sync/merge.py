"""Two copies of one run made one, so that every machine ends with the same record.

A record belongs to the machine that ran it (its `host`): only that machine changes what the run
was (its status, times, params, metrics, ...). Any machine may amend it (`journal note`,
`journal tag`). So two copies merge as

- the run's own fields: on the machine that ran it, its own copy's; elsewhere the remote's (the
  owner's copy reaches the others through it; an edit made elsewhere is undone by the next sync
  there, so it never spreads);
- every amendment of both copies, once each, in time order;
- the tags: a tag some amendment added or removed is there when its latest change (in time, over
  both copies) added it; any other tag is there when either copy has it.

Whenever the result says what one copy says, that copy is the result, byte for byte (the remote
first): two machines that merge in turn end with one file, so a second sync has nothing to send.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from journal.record import Record, listed

MERGED_FIELDS = ("tags", "amendments")


def merge_records(local: Record, remote: Record, *, mine: bool) -> Record:
    """One record from two copies of it; `mine`: this machine ran the run."""
    owner = _owner_copy(local, remote, mine)
    amendments = _amendments(local, remote)
    merged: dict[str, Any] = {name: value for name, value in owner.items()
                              if name not in MERGED_FIELDS}
    tags = _tags(local, remote, amendments)
    if tags is not None:
        merged["tags"] = tags
    if amendments:
        merged["amendments"] = amendments
    ordered = {name: merged[name] for name in (*owner, *merged) if name in merged}
    return ordered  # type: ignore[return-value]


def same(one: Mapping[str, Any] | None, other: Mapping[str, Any] | None) -> bool:
    """Whether two records say the same (the bytes may differ: layout, comments)."""
    return one is not None and other is not None and canonical(one) == canonical(other)


def _own_fields(record: Mapping[str, Any]) -> str:
    return canonical({name: value for name, value in record.items()
                       if name not in MERGED_FIELDS})


def _owner_copy(local: Record, remote: Record, mine: bool) -> Record:
    return local if mine else remote


def _amendments(local: Record, remote: Record) -> list[Any]:
    mine = [item for item in listed(local.get("amendments")) if isinstance(item, Mapping)]
    theirs = [item for item in listed(remote.get("amendments")) if isinstance(item, Mapping)]
    mine_keys = {canonical(item) for item in mine}
    theirs_keys = {canonical(item) for item in theirs}
    if mine_keys <= theirs_keys:
        return theirs
    if theirs_keys <= mine_keys:
        return mine
    seen: dict[str, Any] = {}
    for item in (*theirs, *mine):
        seen.setdefault(canonical(item), item)
    return sorted(seen.values(), key=lambda item: (_moment(item.get("at")), canonical(item)))


def _tags(local: Record, remote: Record, amendments: list[Any]) -> list[str] | None:
    mine, theirs = local.get("tags"), remote.get("tags")
    if not _text_list(mine) or not _text_list(theirs):
        # A hand-made list of something else: the remote's as it is (the owner's, in time).
        return theirs if isinstance(theirs, list) else mine if isinstance(mine, list) else None
    assert isinstance(mine, list) and isinstance(theirs, list)
    latest: dict[str, bool] = {}          # tag -> whether its latest change added it
    for item in sorted(amendments, key=lambda item: _moment(item.get("at"))):
        for change in listed(item.get("tags")):
            if isinstance(change, str) and change[:1] in "+-" and len(change) > 1:
                latest[change[1:]] = change[0] == "+"
    candidates = [*theirs, *(tag for tag in mine if tag not in theirs),
                  *(tag for tag in latest if tag not in theirs and tag not in mine)]
    wanted = {tag for tag in candidates if latest.get(tag, True)}
    for copy in (theirs, mine):
        if set(copy) == wanted:
            return copy
    return [tag for tag in candidates if tag in wanted]


def _text_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _moment(value: object) -> float:
    """An amendment's time as seconds (a hand-written time without an offset is taken as UTC;
    anything else sorts first)."""
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp()
    return float("-inf")


def canonical(value: object) -> str:
    """A value as text that two equal values share (times as the record writer keeps them)."""
    return json.dumps(value, sort_keys=True, default=_plain, ensure_ascii=False)


def _plain(value: object) -> str:
    if isinstance(value, dt.datetime):
        # As the record writer keeps it (UTC offsets kept, to the millisecond): a hand-written
        # time with microseconds is the same time once a merge has written it.
        moment = value.astimezone(dt.timezone.utc) if value.tzinfo else value
        return moment.isoformat(timespec="milliseconds")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return repr(value)
