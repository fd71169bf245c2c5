"""The shared filters: --since/--until words and dates, --tag, --status, --where; the same runs
chosen with the index and without it; bad values are one line and exit 2."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from readkit import both, cli, ids_listed, local, now, one_error_line, write_run

from journal.errors import UsageError
from journal.store.filters import build_filters, parse_condition, parse_when

# Saturday 2026-11-28 15:30 in a +09:00 zone.
TZ = dt.timezone(dt.timedelta(hours=9))
NOW = dt.datetime(2026, 11, 28, 15, 30, tzinfo=TZ)


def at(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=TZ)  # type: ignore[misc]


# -- words for a time ------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "since", "until"), [
    ("2026-11-23", at(2026, 11, 23), at(2026, 11, 24)),
    ("20261123", at(2026, 11, 23), at(2026, 11, 24)),         # compact ISO date: a day too
    ("2026/11/23", at(2026, 11, 23), at(2026, 11, 24)),       # the year first: no order to guess
    ("mon", at(2026, 11, 23), at(2026, 11, 24)),              # as monday
    ("Thurs", at(2026, 11, 26), at(2026, 11, 27)),
    ("today", at(2026, 11, 28), at(2026, 11, 29)),
    ("Yesterday", at(2026, 11, 27), at(2026, 11, 28)),
    ("monday", at(2026, 11, 23), at(2026, 11, 24)),
    ("saturday", at(2026, 11, 28), at(2026, 11, 29)),         # today's weekday is today
    ("sunday", at(2026, 11, 22), at(2026, 11, 23)),
    ("3d", NOW - dt.timedelta(days=3), NOW - dt.timedelta(days=3)),
    ("2w", NOW - dt.timedelta(weeks=2), NOW - dt.timedelta(weeks=2)),
    ("12h", NOW - dt.timedelta(hours=12), NOW - dt.timedelta(hours=12)),
    ("90min", NOW - dt.timedelta(minutes=90), NOW - dt.timedelta(minutes=90)),
    ("2026-11-23T14:00", at(2026, 11, 23, 14), at(2026, 11, 23, 14)),
    ("2026-11-23T14:00+00:00", dt.datetime(2026, 11, 23, 14, tzinfo=dt.timezone.utc),
     dt.datetime(2026, 11, 23, 14, tzinfo=dt.timezone.utc)),
])
def test_when_words(text: str, since: dt.datetime, until: dt.datetime) -> None:
    assert parse_when(text, NOW) == since
    assert parse_when(text, NOW, end=True) == until


@pytest.mark.parametrize(("text", "since", "until"), [
    # Phrases, read by dateparser (loaded only for them): a day means the whole day.
    ("last monday", at(2026, 11, 23), at(2026, 11, 24)),
    ("30 Nov 2026", at(2026, 11, 30), at(2026, 12, 1)),
    ("Nov 30", at(2025, 11, 30), at(2025, 12, 1)),               # the past one
    ("2 days ago", NOW - dt.timedelta(days=2), NOW - dt.timedelta(days=2)),
    ("3 weeks ago", NOW - dt.timedelta(weeks=3), NOW - dt.timedelta(weeks=3)),
    ("yesterday 14:00", at(2026, 11, 27, 14), at(2026, 11, 27, 14)),   # a time: that moment
    # Built in, long or short: months by the calendar.
    ("5 minutes ago", NOW - dt.timedelta(minutes=5), NOW - dt.timedelta(minutes=5)),
    ("2 hours", NOW - dt.timedelta(hours=2), NOW - dt.timedelta(hours=2)),
    ("3mo", NOW.replace(month=8), NOW.replace(month=8)),
    ("1 month ago", NOW.replace(month=10), NOW.replace(month=10)),
    ("1y", NOW.replace(year=2025), NOW.replace(year=2025)),
])
def test_dates_as_people_write_them(text: str, since: dt.datetime, until: dt.datetime) -> None:
    assert parse_when(text, NOW) == since
    assert parse_when(text, NOW, end=True) == until


@pytest.mark.parametrize("text", ["1m", "3 m", "10M"])
def test_a_bare_m_is_refused_as_ambiguous(text: str) -> None:
    with pytest.raises(UsageError, match="ambiguous") as raised:
        parse_when(text, NOW)
    assert raised.value.hint is not None and "min or" in raised.value.hint


def test_only_the_forms_of_the_day_load_no_date_library(tmp_path: Path) -> None:
    code = ("import sys, datetime as dt\nfrom journal.store.filters import parse_when\n"
            "now = dt.datetime.now().astimezone()\n"
            "for text in ('2026-11-23', '3d', '90min', 'yesterday', 'monday', '2 weeks ago'):\n"
            "    parse_when(text, now)\n"
            "print('dateparser' in sys.modules)\n"
            "parse_when('last monday', now)\nprint('dateparser' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=tmp_path)
    assert done.stdout.split() == ["False", "True"]


@pytest.mark.parametrize("text", ["", "soon", "3x", "d3", "2026-13-01", "2026/13/01",
                                  "11/12/2026", "5", "2026"])
def test_bad_when_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="cannot read the time"):
        parse_when(text or " ", NOW)


def test_until_a_date_includes_that_whole_day(tmp_path: Path) -> None:
    jd = tmp_path / ".journal"
    late = write_run(jd, local(2026, 11, 23, 23, 59, 30), note="late on the 23rd")
    next_day = write_run(jd, local(2026, 11, 24, 0, 0, 0), note="midnight")
    early = write_run(jd, local(2026, 11, 23, 0, 0, 0), note="first second of the 23rd")
    before = write_run(jd, local(2026, 11, 22, 23, 59, 59), note="the 22nd")
    assert ids_listed(both("list", "--until", "2026-11-23", cwd=tmp_path)) == [late, early, before]
    assert ids_listed(both("list", "--since", "2026-11-23", cwd=tmp_path)) == [next_day, late, early]
    assert ids_listed(both("list", "--since", "2026-11-23", "--until", "2026-11-23",
                           cwd=tmp_path)) == [late, early]
    assert ids_listed(both("list", "--since", "20261124", cwd=tmp_path)) == [next_day]


def test_relative_since(tmp_path: Path) -> None:
    jd = tmp_path / ".journal"
    recent = write_run(jd, now() - dt.timedelta(days=2, hours=23))
    write_run(jd, now() - dt.timedelta(days=3, hours=1))
    assert ids_listed(both("list", "--since", "3d", cwd=tmp_path)) == [recent]
    assert ids_listed(both("list", "--since", "72h", cwd=tmp_path)) == [recent]
    assert both("list", "--since", "2h", cwd=tmp_path).out == ""


def test_yesterday_and_weekday_select_by_day(tmp_path: Path) -> None:
    jd = tmp_path / ".journal"
    today = now().replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday_noon = write_run(jd, today - dt.timedelta(hours=12))
    write_run(jd, today - dt.timedelta(days=1, hours=1))          # the day before yesterday
    this_morning = write_run(jd, today + dt.timedelta(minutes=1))
    assert ids_listed(both("list", "--since", "yesterday", "--until", "yesterday",
                           cwd=tmp_path)) == [yesterday_noon]
    weekday = today.strftime("%A").lower()
    assert ids_listed(both("list", "--since", weekday, cwd=tmp_path)) == [this_morning]


@pytest.mark.parametrize(("args", "message"), [
    (("--since", "the day after"), "journal: error: cannot read the time 'the day after'"),
    (("--until", "\x1b]52;c;aGk=\x07"), "journal: error: cannot read the time '\\x1b]52;c;aGk=\\x07'"),
    (("--status", "done"), "journal: error: unknown status 'done'"),
    (("--where", "acc>"), "journal: error: bad --where 'acc>'"),
    (("--where", "acc"), "journal: error: bad --where 'acc'"),
    (("--where", ">3"), "journal: error: bad --where '>3'"),
    (("--where", "note~(unclosed"), "journal: error: bad regex in --where 'note~(unclosed'"),
])
def test_bad_filter_values_are_one_line(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    write_run(tmp_path / ".journal")
    for command in ("list", "grep"):
        argv = [command, *args] if command == "list" else [command, "x", *args]
        line = one_error_line(cli(*argv, cwd=tmp_path))
        assert line.startswith(message), line


# -- --tag and --status --------------------------------------------------------------------------

def test_tags_must_all_be_there_statuses_any(tmp_path: Path) -> None:
    jd = tmp_path / ".journal"
    t0 = now() - dt.timedelta(hours=1)
    both_tags = write_run(jd, t0, tags=["sweep", "adam"])
    sweep = write_run(jd, t0 + dt.timedelta(minutes=1), tags=["sweep"], status="failed", exit_code=1)
    write_run(jd, t0 + dt.timedelta(minutes=2), tags=["sweeping"])
    # A hand-edited record whose tags is a string is not tagged with its substrings.
    write_run(jd, t0 + dt.timedelta(minutes=3), tags="sweep adam")
    assert ids_listed(both("list", "--tag", "sweep", cwd=tmp_path)) == [sweep, both_tags]
    assert ids_listed(both("list", "-t", "sweep", "-t", "adam", cwd=tmp_path)) == [both_tags]
    assert ids_listed(both("list", "-s", "failed", cwd=tmp_path)) == [sweep]
    assert len(both("list", "-s", "failed", "-s", "finished", cwd=tmp_path).lines) == 4


# -- --where -------------------------------------------------------------------------------------

def test_parse_condition() -> None:
    c = parse_condition(" params.lr <= 1e-3 ")
    assert (c.table, c.name, c.op, c.value) == ("params", "lr", "<=", 0.001)
    c = parse_condition("metrics.acc>=80")
    assert (c.table, c.name, c.op, c.value) == ("metrics", "acc", ">=", 80)
    c = parse_condition("opt=adam")
    assert (c.table, c.name, c.op, c.value) == (None, "opt", "=", "adam")
    c = parse_condition("model.depth!=12")          # a dotted name that is not a table
    assert (c.table, c.name, c.op, c.value) == (None, "model.depth", "!=", 12)
    assert parse_condition("flag=true").value is True
    assert parse_condition("seed='42'").value == "42"
    assert parse_condition('opt="adam"').value == "adam"
    assert parse_condition("note~le+k").value.pattern == "le+k"


def _where_fixture(jd: Path) -> dict[str, str]:
    t0 = now() - dt.timedelta(hours=2)
    runs = {
        "adam": write_run(jd, t0, params={"opt": "adam", "lr": 0.001, "flag": True, "seed": 42},
                          metrics={"acc": 0.82, "loss": 0.31}, note="adam baseline"),
        "sgd": write_run(jd, t0 + dt.timedelta(minutes=1),
                         params={"opt": "sgd", "lr": 0.1, "flag": False, "seed": 7},
                         metrics={"acc": 0.75, "loss": 0.5}, note="sgd with a data leak"),
        "none": write_run(jd, t0 + dt.timedelta(minutes=2), note="no params at all"),
        "odd": write_run(jd, t0 + dt.timedelta(minutes=3), params={"opt": "Adam", "lr": "fast"},
                         metrics={"acc": float("nan"), "loss": float("-inf")}),
        "big": write_run(jd, t0 + dt.timedelta(minutes=4),
                         metrics={"acc": 2**53, "loss": float("inf"), "steps": 2**53 + 1}),
    }
    return runs


@pytest.mark.parametrize(("where", "expected"), [
    (["acc>0.8"], ["big", "adam"]),
    (["acc<0.8"], ["sgd"]),
    (["acc>=0.75", "acc<=0.75"], ["sgd"]),
    (["acc!=0.82"], ["big", "odd", "none", "sgd"]),     # missing and nan are "not equal"
    (["metrics.acc>0.8"], ["big", "adam"]),
    (["params.acc>0"], []),                          # acc is a metric, not a param
    (["opt=adam"], ["adam"]),                        # strings compare exactly
    (["opt==adam"], ["adam"]),
    (["opt='adam'"], ["adam"]),
    (["opt~(?i)^adam$"], ["odd", "adam"]),
    (["opt!=adam"], ["big", "odd", "none", "sgd"]),
    (["lr<0.01"], ["adam"]),                         # "fast" is not ordered against numbers
    (["params.lr=fast"], ["odd"]),
    (["flag=true"], ["adam"]),
    (["flag=false"], ["sgd"]),
    (["flag=1"], []),                                # a bool is not the number 1
    (["seed=42"], ["adam"]),
    (["seed='42'"], ["adam"]),                       # quoted: the text of the number
    (["seed>10", "opt=adam"], ["adam"]),
    (["note~leak"], ["sgd"]),                        # a record field, by regex
    (["loss<0"], ["odd"]),                           # -inf is below everything
    (["loss>1000"], ["big"]),                        # inf above everything
    (["steps>9007199254740992"], ["big"]),           # ints compared exactly, not as floats
    (["acc>=9007199254740993"], []),
    (["acc=nan"], ["odd"]),
])
def test_where(tmp_path: Path, where: list[str], expected: list[str]) -> None:
    runs = _where_fixture(tmp_path / ".journal")
    argv = ["list"] + [arg for condition in where for arg in ("--where", condition)]
    assert ids_listed(both(*argv, cwd=tmp_path)) == [runs[name] for name in expected]


def test_where_with_dollar_and_odd_names_agrees_with_files(tmp_path: Path) -> None:
    jd = tmp_path / ".journal"
    odd = write_run(jd, params={"$datetime": "x", "a\"b": 1, "back\\slash": "v"})
    write_run(jd, now() - dt.timedelta(minutes=5), params={"$datetime": "y"})
    assert ids_listed(both("list", "--where", "$datetime=x", cwd=tmp_path)) == [odd]
    assert ids_listed(both("list", "--where", 'a"b>0', cwd=tmp_path)) == [odd]
    assert ids_listed(both("list", "--where", "back\\slash=v", cwd=tmp_path)) == [odd]


def test_build_filters_rejects_unknown_status() -> None:
    with pytest.raises(UsageError):
        build_filters(statuses=["finished", "Finished"], now=NOW)
    assert build_filters(statuses=["crashed"], now=NOW).statuses == ("crashed",)


def test_host_and_user_select_the_machine_and_the_person(tmp_path: Path) -> None:
    """`--host` and `--user` (repeatable: any of them), with the index and without, in list,
    grep and export alike."""
    jd = tmp_path / ".journal"
    start = now() - dt.timedelta(hours=5)
    laptop = write_run(jd, start, host="laptop", user="ana", note="on the laptop")
    cluster = write_run(jd, start + dt.timedelta(hours=1), host="gpu01", user="ana", note="on gpu01")
    bob = write_run(jd, start + dt.timedelta(hours=2), host="gpu01", user="bob", note="bob's")
    assert ids_listed(both("list", "-n", "0", "--host", "gpu01", cwd=tmp_path)) == [bob, cluster]
    assert ids_listed(both("list", "-n", "0", "--user", "ana", cwd=tmp_path)) == [cluster, laptop]
    assert ids_listed(cli("list", "-n", "0", "--host", "gpu01", "--user", "ana", cwd=tmp_path)) \
        == [cluster]
    assert ids_listed(cli("list", "-n", "0", "--host", "laptop", "--host", "gpu01", "--user",
                          "bob", cwd=tmp_path)) == [bob]
    assert cli("grep", "-l", "on", "--user", "bob", cwd=tmp_path).lines == [bob]
    exported = cli("export", "-f", "json", "--since", "2d", "--host", "laptop", cwd=tmp_path)
    assert laptop in exported.out and cluster not in exported.out


def test_where_over_names_with_spaces_quoted_or_not(tmp_path: Path) -> None:
    """`Hoge1 Acc` is the name the seed's report pattern gives a metric."""
    jd = tmp_path / ".journal"
    high = write_run(jd, now() - dt.timedelta(hours=2), metrics={"Hoge1 Acc": 82.476})
    low = write_run(jd, now() - dt.timedelta(hours=1), metrics={"Hoge1 Acc": 71.46, 'a<"b"': 1})
    for where in ("Hoge1 Acc>77", '"Hoge1 Acc">77', 'metrics."Hoge1 Acc" > 77'):
        assert ids_listed(both("list", "--where", where, cwd=tmp_path)) == [high], where
    assert ids_listed(both("list", "--where", '"a<\\"b\\""=1', cwd=tmp_path)) == [low]
    assert parse_condition('params."x y"!=2').table == "params"


@pytest.mark.parametrize(("where", "said"), [
    ("Hoge1_Acc>77", "no run has a metric or param named 'Hoge1_Acc'; did you mean 'Hoge1 Acc'?"),
    ("hoge1 acc>77", "no run has a metric or param named 'hoge1 acc'; did you mean 'Hoge1 Acc'?"),
    ("metrics.lr>0", "no run has a metric named 'lr'"),
    ("params.LR<1", "no run has a param named 'LR'; did you mean 'lr'?"),
    ("acx>1", "no run has a metric or param named 'acx'; did you mean 'acc'?"),
])
def test_a_name_no_run_has_is_a_warning_with_the_close_ones(tmp_path: Path, where: str,
                                                            said: str) -> None:
    jd = tmp_path / ".journal"
    write_run(jd, metrics={"Hoge1 Acc": 82.476, "acc": 0.8}, params={"lr": 0.1})
    for args in (["list", "--where", where], ["grep", "x", "--where", where],
                 ["export", "--where", where]):
        result = cli(*args, cwd=tmp_path)
        assert f"journal: warning: {said}\n" in result.err, (args, result.err)
    # A name some run has is no warning, whether or not a run passes the test.
    quiet = cli("list", "--where", "acc>0.9", cwd=tmp_path)
    assert (quiet.code, quiet.out, quiet.err) == (0, "", "")
    assert cli("list", "--where", "note~nothing", cwd=tmp_path).err == ""


def test_a_note_only_entry_is_note_to_every_filter_and_output(tmp_path: Path) -> None:
    jd = tmp_path / ".journal"
    note = write_run(jd, now() - dt.timedelta(hours=2), command=None, note="an idea")
    run = write_run(jd, now() - dt.timedelta(hours=1))
    assert ids_listed(both("list", "-s", "note", cwd=tmp_path)) == [note]
    assert ids_listed(both("list", "-s", "finished", cwd=tmp_path)) == [run]
    assert ids_listed(both("list", "-s", "note", "-s", "finished", cwd=tmp_path)) == [run, note]
    statuses = [json.loads(line)["status"] for line in both("list", "--json", cwd=tmp_path).lines]
    assert statuses == ["finished", "note"]
    assert both("grep", "-l", "idea", "-s", "note", cwd=tmp_path).lines == [note]


def test_a_quoted_value_keeps_its_escaped_quotes() -> None:
    assert parse_condition('note="quote \\"test\\" run"').value == 'quote "test" run'
    assert parse_condition("path='C:\\\\dir'").value == "C:\\dir"
    assert parse_condition("path='C:\\dir'").value == "C:\\dir"      # a lone backslash stays


def test_a_sort_or_compare_by_a_name_no_run_has_says_so(tmp_path: Path) -> None:
    jd = tmp_path / ".journal"
    write_run(jd, metrics={"Hoge1 Acc": 82.476})
    said = "journal: warning: no run has a metric or param named 'Hoge1_Acc'; did you mean 'Hoge1 Acc'?\n"
    assert cli("list", "--sort", "Hoge1_Acc", cwd=tmp_path).err == said
    assert cli("list", "--sort", "-Hoge1 Acc", cwd=tmp_path).err == ""
    assert cli("compare", "--where", "Hoge1_Acc>1", cwd=tmp_path).err == said
    assert cli("compare", "--where", "Hoge1 Acc>100", cwd=tmp_path).err == ""
