"""Whatever a user or a command line can produce is written as TOML the stdlib reads back exactly."""

from __future__ import annotations

import datetime as dt
import fractions
import os
import random
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from conftest import journal, only_record

from journal.store.toml import dumps, storable_text
from journal.store.toml import toml_value as format_value

PY = sys.executable
CONTROLS = "".join(chr(code) for code in range(0x20)) + "\x7f"
C1 = "".join(chr(code) for code in range(0x80, 0xA0))
BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
# What must never stand raw in a record: a terminal or a reader would act on it.
RAW_FORBIDDEN = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def round_trip(document: dict[str, Any]) -> dict[str, Any]:
    text = dumps(document)
    assert not RAW_FORBIDDEN.search(text), repr(text)
    return tomllib.loads(text)


def test_exact_output_of_a_record() -> None:
    started = dt.datetime(2026, 11, 28, 16, 42, 7, 123456, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    record = {
        "schema": 1, "note": 'say "hi"\n\tand \\ leave', "tags": ["a", "b"], "status": "running",
        "started": started, "ended": None, "duration": 12.5, "ok": True,
        "git": {"commit": "0" * 40, "changed": []},
        "params": {"lr": 0.0003, "model.depth": 12, "batch size": 32, "": "empty key"},
        "amendments": [{"note": "x", "at": started}, {"note": "y", "at": started}],
    }
    assert dumps(record) == (
        'schema = 1\n'
        'note = "say \\"hi\\"\\n\\tand \\\\ leave"\n'
        'tags = ["a", "b"]\n'
        'status = "running"\n'
        'started = 2026-11-28T16:42:07.123+09:00\n'
        'duration = 12.5\n'
        'ok = true\n'
        '\n'
        '[git]\n'
        'commit = "0000000000000000000000000000000000000000"\n'
        'changed = []\n'
        '\n'
        '[params]\n'
        'lr = 0.0003\n'
        '"model.depth" = 12\n'
        '"batch size" = 32\n'
        '"" = "empty key"\n'
        '\n'
        '[[amendments]]\n'
        'note = "x"\n'
        'at = 2026-11-28T16:42:07.123+09:00\n'
        '\n'
        '[[amendments]]\n'
        'note = "y"\n'
        'at = 2026-11-28T16:42:07.123+09:00\n'
    )


@pytest.mark.parametrize("text", [
    "日本語のメモ：学習率を下げた。", "emoji 🎉🔥 👨‍👩‍👧 🇯🇵 👍🏽 ❤️", CONTROLS, C1, BIDI,
    "\u2028line\u2029para", "back\\slash \\n \\u0041 \\x41 \\", 'quote " and \'', '"""triple"""',
    "'''triple single'''", '"', "\\", "", " ", "\t\ttabs", "\r\n\r\n", "\x1b[31mred\x1b[0m\x1b]0;t\x07",
    "\ufeffBOM", "\ufffd\uffff\U0010ffff", "a\u0300\u0301 combining", "x" * 1_000_000,
    "[section]\nkey = 1\n# comment", "= \"x\"", "tab\there",
])
def test_strings_round_trip(text: str) -> None:
    assert round_trip({"k": text, "list": [text, text]}) == {"k": text, "list": [text, text]}


def test_c1_and_bidi_are_escaped_not_raw() -> None:
    assert dumps({"k": "\x9b31m\u202eevil"}) == 'k = "\\u009b31m\\u202eevil"\n'
    assert dumps({"k": "\x00\x1f\x7f\t\n"}) == 'k = "\\u0000\\u001f\\u007f\\t\\n"\n'


@pytest.mark.parametrize("key", [
    "plain", "with space", "dotted.key", "a.b.c", 'quo"te', "sin'gle", "日本", "🎉", "", " ",
    "back\\slash", "new\nline", "ctl\x01", "-dash_", "123", "tab\tkey", "[x]", "=",
])
def test_keys_round_trip(key: str) -> None:
    document = {key: 1, "table": {key: {key: "v"}}, "arr": [{key: 2}]}
    assert round_trip(document) == document


@pytest.mark.parametrize("number", [
    0.0, -0.0, 0.1, 0.0003, 1e16, 1.7976931348623157e308, -1.7976931348623157e308, 5e-324,
    2.2250738585072014e-308, 0.1 + 0.2, 1 / 3, 123456789.123456789, 1e-7, 100.0,
])
def test_floats_round_trip_exactly(number: float) -> None:
    back = round_trip({"f": number})["f"]
    assert type(back) is float and back == number and str(back) == str(number)


def test_nan_and_infinities() -> None:
    text = dumps({"a": float("nan"), "b": float("inf"), "c": float("-inf")})
    assert text == "a = nan\nb = inf\nc = -inf\n"
    back = tomllib.loads(text)
    assert back["a"] != back["a"] and back["b"] == float("inf") and back["c"] == float("-inf")


@pytest.mark.parametrize("number", [0, 1, -1, 2**63 - 1, -(2**63), 2**31, -(2**31) - 1])
def test_int64_bounds(number: int) -> None:
    back = round_trip({"i": number})["i"]
    assert type(back) is int and back == number


@pytest.mark.parametrize("number", [2**63, -(2**63) - 1, 10**30])
def test_ints_out_of_toml_range_raise(number: int) -> None:
    with pytest.raises(ValueError, match="integer out of TOML range"):
        dumps({"i": number})
    with pytest.raises(ValueError):
        dumps({"t": {"arr": [1, number]}})


def test_bools_stay_bools() -> None:
    back = round_trip({"t": True, "f": False, "arr": [True, 1]})
    assert [type(v) for v in (back["t"], back["f"], *back["arr"])] == [bool, bool, bool, int]


def test_number_like_types_are_written_as_plain_numbers() -> None:
    class Shout(float):   # numpy's float64 is a float whose repr is `np.float64(0.5)`
        def __repr__(self) -> str:
            return f"Shout({float(self)!r})"

    text = dumps({"f": Shout(0.5), "q": fractions.Fraction(1, 4), "arr": [Shout(-1.5)]})
    assert text == "f = 0.5\nq = 0.25\narr = [-1.5]\n"


def test_int_subclass_is_written_at_once() -> None:
    # `IntEnum(3) in range(-2**63, 2**63)` walks the range item by item (only exact ints take the
    # fast path): checked in a child process so that a regression fails instead of hanging.
    script = ("import enum; from journal.store.toml import dumps\n"
              "class Level(enum.IntEnum):\n    HIGH = 3\n"
              "print(dumps({'e': Level.HIGH, 'big': [Level.HIGH]}), end='')")
    done = subprocess.run([PY, "-c", script], capture_output=True, timeout=10)
    assert (done.returncode, done.stdout) == (0, b"e = 3\nbig = [3]\n"), done.stderr


def test_bytes_tuples_and_none() -> None:
    document = {"b": b"caf\xc3\xa9 \xff", "t": (1, "two", 3.0), "n": None, "e": [],
                "inline": [{"a": 1, "skip": None}, {"b": [1, 2]}], "mixed": [1, "a", [2, 3], {"x": 1}]}
    assert round_trip(document) == {"b": "café \\xff", "t": [1, "two", 3.0], "e": [],
                                    "inline": [{"a": 1}, {"b": [1, 2]}],
                                    "mixed": [1, "a", [2, 3], {"x": 1}]}


def test_unwritable_types_raise_type_error() -> None:
    with pytest.raises(TypeError, match="cannot write set to TOML"):
        dumps({"s": {1, 2}})
    with pytest.raises(TypeError, match="cannot write object to TOML"):
        format_value(object())


def test_nested_tables_and_arrays_of_tables() -> None:
    document = {
        "top": 1,
        "a": {"x": 1, "b": {"y": 2, "c": {"z": "deep"}}, "list": [{"i": 1}, {"i": 2, "sub": {"k": "v"}}]},
        "runs": [{"id": "r1", "git": {"dirty": True}}, {"id": "r2", "metrics": {"acc": 0.5}}],
        "empty": {},
        "after": {"q": [1, 2]},
    }
    assert round_trip(document) == document


@pytest.mark.parametrize("offset", [
    dt.timedelta(0), dt.timedelta(hours=9), dt.timedelta(hours=-3, minutes=-30),
    dt.timedelta(hours=5, minutes=45), dt.timedelta(hours=14), dt.timedelta(hours=-12),
])
def test_offset_datetimes_round_trip_to_the_millisecond(offset: dt.timedelta) -> None:
    when = dt.datetime(2026, 11, 28, 23, 59, 59, 999999, tzinfo=dt.timezone(offset))
    back = round_trip({"t": when})["t"]
    assert back == when.replace(microsecond=999000)
    assert back.utcoffset() == offset


def test_offset_with_seconds_is_written_in_utc() -> None:
    odd = dt.timezone(dt.timedelta(hours=9, minutes=18, seconds=59))   # Tokyo's LMT
    when = dt.datetime(1880, 1, 1, 12, 0, 0, tzinfo=odd)
    text = dumps({"t": when})
    assert text == "t = 1880-01-01T02:41:01.000+00:00\n"
    assert tomllib.loads(text)["t"] == when


def test_naive_datetimes_raise() -> None:
    with pytest.raises(ValueError, match="naive datetimes"):
        dumps({"t": dt.datetime(2026, 11, 28, 12, 0)})


# --- text that is not Unicode: argv and file names with non-UTF-8 bytes ---------------------------

def test_lone_surrogates_from_non_utf8_argv_are_stored_as_visible_escapes() -> None:
    raw = os.fsdecode(b"\xff\xfe")
    assert raw == "\udcff\udcfe"
    assert storable_text(raw) == "\\xff\\xfe"
    text = dumps({"arg": raw})
    assert text == 'arg = "\\\\xff\\\\xfe"\n'
    assert tomllib.loads(text) == {"arg": "\\xff\\xfe"}


@pytest.mark.parametrize(("raw", "shown"), [
    (os.fsdecode(b"caf\xe9"), "caf\\xe9"),                        # Latin-1 file name
    (os.fsdecode(b"\xe6\x97\xa5\xff"), "\u65e5\\xff"),            # valid UTF-8 stays readable
    (os.fsdecode(b"\xed\xa0\x80"), "\\xed\\xa0\\x80"),             # an encoded surrogate
    ("\ud800", "\\ud800"),                                        # not from bytes (JSON, say)
    ("a\udcff\ud800b\udc00", "a\\xff\\ud800b\\udc00"),
    ("\U0001f389\udcc3", "\U0001f389\\xc3"),
])
def test_storable_text(raw: str, shown: str) -> None:
    assert storable_text(raw) == shown
    assert round_trip({"k": raw, raw: "key"}) == {"k": shown, shown: "key"}


def test_storable_text_leaves_valid_text_alone() -> None:
    text = "日本語 🎉 \x00 \\xff"
    assert storable_text(text) is text


def _random_string(rng: random.Random) -> str:
    ranges = [(0x00, 0x7F), (0x00, 0x20), (0x7F, 0xA0), (0xA0, 0xD7FF), (0xD800, 0xDFFF),
              (0xDC80, 0xDCFF), (0xE000, 0xFFFF), (0x10000, 0x10FFFF), (0x2000, 0x206F)]
    chars = []
    for _ in range(rng.randrange(0, 24)):
        low, high = rng.choice(ranges)
        chars.append(chr(rng.randint(low, high)))
    return "".join(chars)


def test_fuzz_random_strings_always_parse_and_equal_storable_text() -> None:
    rng = random.Random(20261128)
    for _ in range(4000):
        value = _random_string(rng)
        key = _random_string(rng)
        text = dumps({"k": value, "t": {key: [value]}})
        assert not RAW_FORBIDDEN.search(text), repr(value)
        text.encode("utf-8")                     # always writable
        shown = storable_text(value)
        assert tomllib.loads(text) == {"k": shown, "t": {storable_text(key): [shown]}}, repr(value)
        if not any(0xD800 <= ord(c) <= 0xDFFF for c in value):
            assert shown == value


# --- end to end ----------------------------------------------------------------------------------

def test_hostile_note_and_non_utf8_argument_through_the_cli(repo: Path) -> None:
    note = ("日本語のメモ 🎉👨‍👩‍👧 — " + "".join(chr(c) for c in range(1, 0x20)) + "\x7f"
            + " \x1b[31mred\x1b[0m \x1b]0;title\x07 \x9b2J \u202egnp.exe \\ \"q\" '''")
    done = journal("new", "-n", note, "--", PY, "-c", "pass", b"caf\xe9 \xff\xfe",
                   b"--name=r\xe9sum\xe9", b"\xe6\x97\xa5\xe6\x9c\xac", cwd=repo)  # type: ignore[arg-type]
    assert done.returncode == 0, done.stderr
    path = next((repo / ".journal" / "runs").rglob("*.toml"))
    text = path.read_text(encoding="utf-8")
    assert not RAW_FORBIDDEN.search(text)
    record = only_record(repo / ".journal")
    assert record["note"] == note
    assert record["command"] == [PY, "-c", "pass", "caf\\xe9 \\xff\\xfe", "--name=r\\xe9sum\\xe9",
                                 "日本"]
    assert record["params"] == {"name": "r\\xe9sum\\xe9"}
