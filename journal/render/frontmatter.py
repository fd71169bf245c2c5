"""YAML front matter for a run's note: what Obsidian shows as properties, Dataview sorts by,
Logseq and Joplin read (`created`), written without a YAML library.

    ---
    id: "20261130-105111.173-83d1bcb-a53vx7"
    status: "finished"
    created: 2026-11-30T10:51:11.173+00:00
    commit: "83d1bcb…"
    dirty: false
    tags: ["adam", "baseline"]
    param_lr: 0.0003
    metric_acc: 82.476
    ---

Params and metrics are flat properties, `param_<name>` and `metric_<name>` (Obsidian cannot show
nested ones; a name's characters other than letters (of any script), digits, `_` and `-` become
`_`, and a name that would repeat one already written gets `_2`, `_3`...). Numbers stay numbers so a property can be
sorted (nan and infinities as YAML's `.nan`, `.inf`); text is a double-quoted scalar (JSON's
escapes are YAML's), so no value can end the block or be read as another type.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from typing import Any

from journal.record import StoredRun, flat_params, started_at, table
from journal.text import json_text

_KEY = re.compile(r"[^\w-]+")     # letters of any script, digits, `_`, `-` are kept
MAX_KEY = 200


def run_front_matter(run: StoredRun) -> str:
    """The run's properties as a YAML front matter block (ending with its closing `---`)."""
    record = run.record
    git = table(record, "git")
    properties: dict[str, Any] = {"id": run.id,
                                  "status": run.shown_status}
    started = started_at(record)
    if started is not None:
        properties["created"] = started
    for name in ("commit", "branch", "dirty"):
        if name in git:
            properties[name] = git[name]
    for name in ("host", "user", "rerun_of"):
        value = record.get(name)
        if isinstance(value, str):
            properties[name] = value
    tags = record.get("tags")
    properties["tags"] = [tag for tag in tags if isinstance(tag, str)] \
        if isinstance(tags, list) else []
    for prefix, values in (("param", flat_params(record)), ("metric", table(record, "metrics"))):
        for name, value in values.items():
            key = f"{prefix}_{_KEY.sub('_', str(name))}"
            # YAML's plain keys end at 1024 characters: a longer name is left out. Two names
            # that become one key (`val/loss`, `val_loss`) are both kept: `_2` for the second.
            if len(key) > MAX_KEY or not _scalar(value):
                continue
            unique, number = key, 2
            while unique in properties:
                unique, number = f"{key}_{number}", number + 1
            properties[unique] = value
    lines = ["---", *(f"{key}: {yaml_scalar(value)}" for key, value in properties.items()), "---"]
    return "\n".join(lines) + "\n"


def _scalar(value: object) -> bool:
    """A value a property can hold: a scalar, or a list of scalars (`nargs="+"`)."""
    if isinstance(value, list):
        return all(_scalar(item) and not isinstance(item, list) for item in value)
    return value is None or isinstance(value, str | int | float | bool | dt.datetime)


def yaml_scalar(value: Any) -> str:
    """One value as YAML (a property here, or in other front matter journal writes)."""
    if value is None or (isinstance(value, Mapping) and not value):
        return "null"                       # a param the program had as None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return repr(value)
        return ".nan" if value != value else ".inf" if value > 0 else "-.inf"   # YAML's floats
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="milliseconds")
    if isinstance(value, list):
        return "[" + ", ".join(yaml_scalar(item) for item in value) + "]"
    # JSON's string escapes are YAML's; json_text also escapes what a terminal would obey
    return json_text(str(value))
