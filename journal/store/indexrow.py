"""A record as a row of the index (store/index.py): what a row holds and how a record file
becomes one. Run in the index's worker processes too, so it imports little.

Records go to JSON with datetimes, nan and inf tagged so that they come back as they were; the
row's body is that JSON and grep's lines, compressed with a dictionary; metrics and a listing's
summary are columns of their own.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from journal.record import (
    Record,
    aware,
    id_month,
    searchable_text,
    summary_of,
)
from journal.store.records import read_record, second_copy_warning


def stat_key(stat: os.stat_result) -> int:
    # ctime as git uses it: nobody can set it, so a file rewritten in place whose mtime was put
    # back (cp -p, rsync -a --inplace, os.utime) still shows as changed. A hash of integers is
    # the same in every process (only str and bytes hashes are salted), and 8 bytes a row.
    return hash((stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size, stat.st_ino))


# -- records as JSON: datetimes, nan and inf tagged so they come back as they were -------------
# A tag is a one-key object whose key starts with `$`; a record's own keys that start with `$`
# are stored with one more `$`, so no record can pass for a tag.

_TAGS = ("$float", "$datetime", "$date", "$time")


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, dt.time):
        return {"$time": value.isoformat()}
    raise TypeError(type(value).__name__)


def _untag(obj: dict[str, Any]) -> Any:
    """A value tagged by _json_default or _taggable back as itself (called for every object)."""
    if len(obj) == 1:
        key, value = next(iter(obj.items()))
        if key in _TAGS and isinstance(value, str):
            try:
                if key == "$float":
                    return float(value)
                if key == "$datetime":
                    return dt.datetime.fromisoformat(value)
                if key == "$date":
                    return dt.date.fromisoformat(value)
                return dt.time.fromisoformat(value)
            except ValueError:
                return obj
    return obj


def _untag_and_unescape(obj: dict[str, Any]) -> Any:
    """_untag, and keys of the record's own that start with `$` (escaped as `$$...`) restored."""
    obj = _untag(obj)
    if isinstance(obj, dict) and any(key[:1] == "$" for key in obj):
        return {key[1:] if key[:1] == "$" else key: value for key, value in obj.items()}
    return obj


_DECODE = json.JSONDecoder(object_hook=_untag).decode
_DECODE_ESCAPED = json.JSONDecoder(object_hook=_untag_and_unescape).decode


def to_json(value: Any) -> str:
    # Fast path in C: right unless the value holds nan, inf or a `"$` of its own (each tag made
    # by _json_default adds exactly one `"$`); else walk it in Python.
    made = 0

    def tag(item: Any) -> Any:
        nonlocal made
        made += 1
        return _json_default(item)

    try:
        text = json.dumps(value, default=tag, ensure_ascii=False, allow_nan=False)
        if text.count('"$') == made:
            return text
    except ValueError:
        pass
    return json.dumps(_taggable(value), default=_json_default, ensure_ascii=False, allow_nan=False)


def _taggable(value: Any) -> Any:
    """nan and inf (TOML has them, SQLite's JSON cannot read them) tagged; `$` keys escaped."""
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, dict):
        return {("$" + key if key[:1] == "$" else key): _taggable(item)
                for key, item in value.items()}
    if isinstance(value, list):
        return [_taggable(item) for item in value]
    return value


def from_json(text: str) -> Any:
    # Only a value with keys of its own that start with `$` has `"$$` in its JSON (a string may
    # too: then the slower decoder is still right); the rest skip a scan of every object's keys.
    return (_DECODE_ESCAPED if '"$$' in text else _DECODE)(text)


def record_from_json(text: str) -> Record:
    record: Record = from_json(text)
    return record


# -- a record's row: the record once, compressed ----------------------------------------------
# The body is zlib with a dictionary made from the first record this index stored (a record's
# field names and their look repeat from run to run: 2.9 KB of JSON and grep's lines become
# about 0.8 KB). Metrics are a column of their own (--where, a listing's headline metrics),
# and the record's JSON says `null` in their place (TOML has no null, so nothing else can).
# Params stay in the body: --where on a param reads them from there.

DICTIONARY_BYTES = 4096

Job = tuple[str, str, str, int]        # (id, path, folder relative to runs/, stat key)



def payload(record: Record) -> tuple[str, bytes]:
    """(metrics JSON, the body before compression) of one record."""
    metrics = record.get("metrics")
    kept: Mapping[str, Any] = {**record, "metrics": None} if isinstance(metrics, dict) else record
    body = to_json(kept) + "\0" + searchable_text(record)
    return to_json(metrics if isinstance(metrics, dict) else {}), body.encode()


def compress(data: bytes, dictionary: bytes) -> bytes:
    packer = zlib.compressobj(6, zdict=dictionary)
    return packer.compress(data) + packer.flush()


def decompress(body: bytes, dictionary: bytes) -> str:
    unpacker = zlib.decompressobj(zdict=dictionary)
    return (unpacker.decompress(body) + unpacker.flush()).decode()


def make_dictionary(record: Record) -> bytes:
    return payload(record)[1][-DICTIONARY_BYTES:]


def record_of(body: str, metrics_json: str) -> Record:
    record = record_from_json(body[:body.index("\0")])
    if "metrics" in record and record["metrics"] is None:
        record["metrics"] = from_json(metrics_json)
    return record


def row_for(job: Job, dictionary: bytes) -> tuple[object, ...]:
    """('ok', *row) for a record, ('bad', path, folder, stat, reason) for one that does not
    parse, ('gone', path) for one deleted since its folder was listed. The body is compressed
    with `dictionary`."""
    run_id, path, folder, stat = job
    file = Path(path)
    runs_dir = file.parents[len(Path(folder).parts)] if folder else file.parent
    home = runs_dir / id_month(run_id) / file.name
    if home != file and home.exists():
        return ("bad", path, folder, stat, second_copy_warning(file, run_id, home))
    problems: list[str] = []
    record = read_record(file, problems.append)
    if record is None:
        if not problems:
            return ("gone", path)
        return ("bad", path, folder, stat, problems[0])
    try:
        started = record.get("started")
        started_ts = aware(started).timestamp() if isinstance(started, dt.datetime) else None
        tags = record.get("tags")
        metrics_json, body = payload(record)
        return (
            "ok", run_id, folder, stat, started_ts,
            None if record.get("status") is None else str(record["status"]),
            # Said again whenever the indexed copy is handed out, as reading the file would.
            "\n".join(problems) or None,
            to_json(tags if isinstance(tags, list) else []), metrics_json,
            to_json(summary_of(record)),
            compress(body, dictionary),
        )
    # Valid TOML, but not a record we can use (RecursionError: a thousand nested tables).
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        return ("bad", path, folder, stat, f"warning: skipped {path}: not a valid record ({exc})")
