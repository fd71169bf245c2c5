"""The record type: schema checks and upgrade steps, run ids, tolerant accessors, and the one
redaction step at the door to disk."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from readkit import cli, record_path, write_run

from journal.record import (
    SCHEMA_VERSION,
    STATUSES,
    Status,
    finite_number,
    id_month,
    id_time,
    is_valid_id,
    listed,
    new_run_id,
    short_id,
    table,
    text_list,
    upgrade,
)
from journal.redact import MASK, Redactor


def test_a_current_record_is_read_as_it_is() -> None:
    warnings: list[str] = []
    record: Any = {"schema": SCHEMA_VERSION, "note": "x"}
    assert upgrade(record, "f.toml", warnings.append) is record
    assert upgrade({"note": "no schema: a hand-made record"}, "f.toml", warnings.append)
    assert warnings == []


def test_older_schemas_are_upgraded_step_by_step_in_memory() -> None:
    def one_to_two(record: dict[str, object]) -> dict[str, object]:
        return {**record, "user": "ana"}

    def two_to_three(record: dict[str, object]) -> dict[str, object]:
        return {**record, "tags": [*text_list(record.get("tags")), "upgraded"]}

    warnings: list[str] = []
    old: Any = {"schema": 1, "tags": ["a"]}
    new = upgrade(old, "f.toml", warnings.append, {2: two_to_three, 1: one_to_two}, current=3)
    assert new == {"schema": 3, "tags": ["a", "upgraded"], "user": "ana"}
    assert old == {"schema": 1, "tags": ["a"]}      # the record read is not changed
    assert warnings == []


def test_a_missing_step_is_one_warning_and_the_record_as_it_is() -> None:
    warnings: list[str] = []
    old: Any = {"schema": 1}
    assert upgrade(old, "f.toml", warnings.append, {}, current=2) is old
    assert warnings == ["warning: f.toml: no upgrade from schema 1; shown as it is"]


@pytest.mark.parametrize(("schema", "says"), [
    (SCHEMA_VERSION + 1, f"has schema {SCHEMA_VERSION + 1}, newer than this journal knows"),
    ("two", "unknown schema 'two'"),
    (0, "unknown schema 0"),
    (True, "unknown schema True"),
])
def test_newer_or_odd_schemas_are_one_warning_naming_the_file(schema: object, says: str) -> None:
    warnings: list[str] = []
    record: Any = {"schema": schema, "note": "kept"}
    assert upgrade(record, "runs/x.toml", warnings.append) is record
    assert len(warnings) == 1 and "runs/x.toml" in warnings[0] and says in warnings[0]


def test_a_record_of_a_newer_schema_is_shown_with_a_warning(tmp_path: Path) -> None:
    jd = tmp_path / ".journal"
    run_id = write_run(jd, note="from the future", schema=SCHEMA_VERSION + 1,
                       hologram={"depth": 3})
    path = record_path(jd, run_id)
    for args in (("list",), ("show", run_id), ("list", "--json"), ("grep", "-F", "future")):
        for env in ({}, {"JOURNAL_NO_INDEX": "1"}):
            result = cli(*args, cwd=tmp_path, env=env)
            assert result.code == 0, result
            assert "from the future" in result.out
            warnings = [line for line in result.err.splitlines() if "newer than this" in line]
            assert len(warnings) == 1 and str(path) in warnings[0], (args, env, result.err)


def test_run_ids_carry_the_utc_start_and_are_safe_file_names() -> None:
    started = dt.datetime(2026, 11, 28, 16, 42, 7, 123456, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    run_id = new_run_id(started, "9ac7188")
    assert run_id.startswith("20261128-074207.123-9ac7188-") and len(run_id.rsplit("-", 1)[1]) == 6
    assert is_valid_id(run_id) and id_month(run_id) == "2026-11"
    assert id_time(run_id) == dt.datetime(2026, 11, 28, 7, 42, 7, 123000, tzinfo=dt.timezone.utc)
    assert short_id(run_id) == "20261128-074207.123"
    assert new_run_id(started, None).split("-")[2] == "nocommit"
    assert short_id("hand-made") == "hand-made" and id_time("hand-made") is None
    for bad in ("", ".hidden", "a/b", "../x", "a b", "tab\t"):
        assert not is_valid_id(bad), bad


def test_accessors_never_trust_a_fields_type() -> None:
    record: Any = {"params": ["not", "a", "table"], "metrics": {"acc": 1}, "tags": "one"}
    assert table(record, "params") == {} and table(record, "metrics") == {"acc": 1}
    assert table(record, "absent") == {}
    assert listed(record["tags"]) == ["one"] and listed(None) == [] and listed({"a": 1}) == []
    assert text_list([1, "a"]) == ["1", "a"] and text_list("x") == []
    assert [finite_number(v) for v in (1, 2.5, True, "3", float("nan"), float("inf"))] == \
        [1.0, 2.5, None, None, None, None]


def test_statuses_are_one_list() -> None:
    assert STATUSES == ("running", "finished", "failed", "interrupted", "killed", "crashed")
    assert Status.KILLED == "killed" and f"{Status.FAILED}" == "failed"


def test_the_door_to_disk_masks_every_field_but_journals_own() -> None:
    """A field added later (here `notebook` and `user_text`) is masked without being named."""
    token = "ghp_" + "a" * 36
    started = dt.datetime(2026, 11, 28, tzinfo=dt.timezone.utc)
    record: Any = {
        "schema": 1, "id": "x", "status": "running", "started": started, "host": "gpu01",
        "cwd": "exp", "git": {"branch": "main", "changed": ["a.py"]}, "log": {"path": "logs/x.log"},
        "note": f"token {token}", "tags": [f"t-{token}", f"t-{token}"],
        "command": ["python", "x.py", "--password", "hunter2", f"--key={token}"],
        "params": {"api_key": "abc123", "lr": 0.1}, "env": {"HF_TOKEN": "hf_" + "b" * 34},
        "error": f"failed with {token}", "problems": [f"log failed: {token}"],
        "amendments": [{"at": started, "text": f"amended {token}"}],
        "notebook": {"cell": f"print('{token}')"}, "user_text": f"{token}",
    }
    masked: Any = Redactor().record(record)
    assert token not in repr(masked) and "hunter2" not in repr(masked) and "abc123" not in repr(masked)
    assert masked["command"] == ["python", "x.py", "--password", MASK, f"--key={MASK}"]
    assert masked["tags"] == [f"t-{MASK}"]
    assert masked["params"] == {"api_key": MASK, "lr": 0.1}
    assert masked["amendments"] == [{"at": started, "text": f"amended {MASK}"}]
    assert masked["notebook"] == {"cell": f"print('{MASK}')"} and masked["user_text"] == MASK
    for own in ("schema", "id", "status", "started", "host", "cwd", "git", "log"):
        assert masked[own] == record[own]
    assert record["note"] == f"token {token}"       # a copy: the record given is not changed
