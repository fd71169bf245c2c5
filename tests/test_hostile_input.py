"""Input a demanding user (or a QA pass) throws at journal: one `journal: error:` line, never a
traceback, and nothing already recorded is touched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import journal, only_record

PY = sys.executable


def one_error(done: subprocess.CompletedProcess[bytes], code: int = 2) -> str:
    err = done.stderr.decode()
    assert done.returncode == code, err
    assert "Traceback" not in err and err.startswith("journal: error: "), err
    return err.splitlines()[0]


@pytest.fixture
def ran(repo: Path) -> Path:
    assert journal("new", "-q", "-n", "a run", "-m", "acc=0.5", "--", "true", cwd=repo).returncode == 0
    return repo


@pytest.mark.parametrize("args", [
    ("list", "--since", "0001-01-01"), ("list", "--until", "9999-12-31"),
    ("list", "--since", "999999999d"), ("list", "--since", "99999999999999999999d"),
    ("grep", "x", "--since", "0001-01-01"), ("export", "--since", "0001-01-01"),
    ("export", "--week", "-99999999"),
])
def test_times_out_of_range_are_one_line(ran: Path, args: tuple[str, ...]) -> None:
    assert "out of range" in one_error(journal(*args, cwd=ran))


@pytest.mark.parametrize("args", [("grep", "a{99999999999}"),
                                  ("list", "--where", "note~a{99999999999}")])
def test_huge_regex_repetitions_are_one_line(ran: Path, args: tuple[str, ...]) -> None:
    one_error(journal(*args, cwd=ran))


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("args", [("list",), ("list", "--json"), ("show", "@"), ("grep", "run"),
                                  ("export",), ("export", "-f", "csv")])
def test_a_full_disk_on_stdout_is_one_line(ran: Path, args: tuple[str, ...]) -> None:
    with open("/dev/full", "wb") as full:
        done = subprocess.run([PY, "-m", "journal", *args], cwd=ran, stdout=full,
                              stderr=subprocess.PIPE)
    assert "cannot write the output: No space left on device" in one_error(done)


def test_export_force_never_replaces_a_fifo_and_writes_through_a_link(ran: Path) -> None:
    fifo = ran / "fifo"
    os.mkfifo(fifo)
    assert "not a regular file" in one_error(journal("export", "-o", "fifo", "--force", cwd=ran))
    assert fifo.is_fifo()
    target = ran / "vault" / "week.md"
    target.parent.mkdir()
    target.write_text("old\n")
    (ran / "link.md").symlink_to(target)
    assert journal("export", "-o", "link.md", "--force", cwd=ran).returncode == 0
    assert (ran / "link.md").is_symlink() and "a run" in target.read_text()
    assert "needs a file name" in one_error(journal("export", "-o", "", cwd=ran))


@pytest.mark.parametrize(("values", "says"), [
    ('[""]', "matches empty text"), ('["x*"]', "matches empty text"),
    ('["(?i)corp"]', "cannot be used together"),
    ('["(?P<g>a)", "(?P<g>b)"]', "cannot be used together"),
])
def test_redact_patterns_that_would_mangle_records_are_refused(ran: Path, values: str,
                                                              says: str) -> None:
    before = only_record(ran / ".journal")
    (ran / ".journal" / "config.toml").write_text(f"[redact]\nvalues = {values}\n")
    assert says in one_error(journal("new", "-n", "cfg note", "--", "true", cwd=ran))
    assert only_record(ran / ".journal") == before


def test_a_huge_repetition_in_a_metric_pattern_is_one_line(ran: Path) -> None:
    (ran / ".journal" / "config.toml").write_text('[metrics]\npatterns = ["(?P<a>a{99999999999})"]\n')
    one_error(journal("new", "--", "true", cwd=ran))


def test_credential_file_globs_match_any_case(repo: Path) -> None:
    (repo / "server.PEM").write_text("-----secret body-----\n")
    (repo / "Credentials.JSON").write_text('{"k": "v"}\n')
    assert journal("new", "-q", "-n", "x", cwd=repo).returncode == 0
    git_fields = only_record(repo / ".journal")["git"]
    assert set(git_fields["left_out"]) >= {"server.PEM", "Credentials.JSON"}
    patch = (repo / ".journal" / git_fields["patch"]).read_bytes() if "patch" in git_fields else b""
    assert b"secret body" not in patch


def test_a_password_starting_with_a_dash_is_masked_in_the_record_and_the_log(repo: Path) -> None:
    done = journal("new", "-q", "--", "echo", "--password", "-Secret1xx", "--verbose", cwd=repo)
    assert done.returncode == 0 and b"-Secret1xx" in done.stdout
    record = only_record(repo / ".journal")
    assert record["command"] == ["echo", "--password", "***", "--verbose"]
    assert b"Secret1xx" not in (repo / ".journal" / record["log"]["path"]).read_bytes()


@pytest.mark.parametrize("where", ["acc>>1", "acc=>1", "acc=<1", "acc>abc"])
def test_where_typos_are_errors_not_empty_results(ran: Path, where: str) -> None:
    one_error(journal("list", "--where", where, cwd=ran))


def test_a_journal_folder_that_is_a_file_is_one_line(ran: Path, tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    env = {**os.environ, "JOURNAL_DIR": str(tmp_path / "afile")}
    assert "is not a folder" in one_error(journal("list", cwd=ran, env=env))


def test_grep_finds_no_phantom_line_after_a_logs_final_newline(repo: Path) -> None:
    assert journal("new", "-q", "--", "echo", "hi", cwd=repo).returncode == 0
    done = journal("grep", "^$", cwd=repo)
    assert done.returncode == 1 and done.stdout == b""


def test_export_json_escapes_what_a_terminal_would_obey(repo: Path) -> None:
    note = "leak \x1b]52;c;aGk=\x07 \u202eevil\u202c \x9b2J zero\u200bwidth 日本語"
    assert journal("new", "-q", "-n", note, cwd=repo).returncode == 0
    done = journal("export", "-f", "json", cwd=repo)
    assert done.returncode == 0
    text = done.stdout.decode()
    for raw in ("\x1b", "\x07", "\u202e", "\u202c", "\x9b", "\u200b"):
        assert raw not in text
    import json
    assert json.loads(text)[0]["note"] == note and "日本語" in text


# -- files that are not what their names say (a git pull or rsync can bring any of them) --------

HOSTILE_RECORDS = {
    "fifo": lambda path: os.mkfifo(path),
    "dev-zero": lambda path: path.symlink_to("/dev/zero"),
    "folder": lambda path: path.mkdir(),
    "nested": lambda path: path.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n"),
    "huge": lambda path: path.write_bytes(b"# padding\n" * (1 << 20)),
}


def _limited() -> None:
    """A reader that tried to swallow /dev/zero would die here instead of taking the machine."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


@pytest.mark.parametrize("kind", sorted(HOSTILE_RECORDS))
def test_a_record_file_that_is_no_record_never_hangs_or_exhausts_a_reader(ran: Path, kind: str
                                                                          ) -> None:
    good = only_record(ran / ".journal")
    folder = next((ran / ".journal" / "runs").iterdir())
    bad = folder / f"20261130-000000.000-badbad0-{kind[:6]}.toml"
    HOSTILE_RECORDS[kind](bad)
    for args in (["list"], ["list", "-n", "0", "--json"], ["grep", "-F", "a run"], ["show", "@"],
                 ["export", "-f", "csv", "--since", "2000-01-01"], ["note", good["id"], "fine"]):
        for env in ({}, {"JOURNAL_NO_INDEX": "1"}):
            done = subprocess.run([PY, "-m", "journal", *args], cwd=ran, capture_output=True,
                                  timeout=60, env={**os.environ, **env}, preexec_fn=_limited)
            err = done.stderr.decode()
            assert done.returncode == 0, (args, env, err)
            assert "Traceback" not in err, err
            # A folder is not a record file at all; `show @` and `note` read only their run.
            if kind != "folder" and (args[0] in ("list", "grep", "export") or not env):
                assert f"warning: skipped {bad}" in err, (args, env, err)


@pytest.mark.parametrize("what", ["log", "config", "template", "side file", "lock"])
def test_a_fifo_in_place_of_any_journal_file_never_hangs(ran: Path, what: str) -> None:
    record = only_record(ran / ".journal")
    run_id = record["id"]
    place = {
        "log": ran / ".journal" / "logs" / f"{run_id}.log",
        "config": ran / ".journal" / "config.toml",
        "template": ran / ".journal-template.md",
        "side file": ran / ".journal" / "metrics" / f"{run_id}.jsonl",
        "lock": next((ran / ".journal" / "runs").rglob("*.toml")).with_suffix(".toml.lock"),
    }[what]
    place.parent.mkdir(parents=True, exist_ok=True)
    place.unlink(missing_ok=True)
    os.mkfifo(place)
    commands = {"log": [["tail"], ["grep", "zzz"], ["show", "--log"]],
                "config": [["new", "-n", "x"], ["note", "@", "x"]],
                "template": [["export"]],
                "side file": [["show"]],
                "lock": [["note", run_id, "x"]]}[what]
    for args in commands:
        done = subprocess.run([PY, "-m", "journal", *args], cwd=ran, capture_output=True,
                              timeout=60)
        assert "Traceback" not in done.stderr.decode(), (args, done.stderr)
        assert done.returncode in (0, 1, 2), (args, done.returncode)
    if what == "lock":
        assert not place.exists()              # no lock of ours: moved aside, and the note made
        assert only_record(ran / ".journal")["amendments"][0]["text"] == "x"


# -- what `journal new` is given, checked as the commands that read it back check it -----------

@pytest.mark.parametrize(("args", "says"), [
    (("-t", "a b"), "bad tag 'a b': a tag is one word of visible characters"),
    (("-t", "-draft"), "bad tag '-draft'"),
    (("-m", "acc=abc"), "--metric 'acc=abc': 'abc' is not a number"),
    (("-m", "acc=true"), "'true' is not a number"),
])
def test_journal_new_refuses_what_the_reading_commands_would(repo: Path, args: tuple[str, ...],
                                                            says: str) -> None:
    assert says in one_error(journal("new", *args, "--", "true", cwd=repo))
    assert not (repo / ".journal" / "runs").exists()


def test_metric_values_are_numbers_as_people_write_them(repo: Path) -> None:
    done = journal("new", "-m", "acc=82.476%", "-m", "loss=inf", "-m", "gap=-inf", "-m", "x=nan",
                   "-m", "n=7", cwd=repo)
    assert done.returncode == 0, done.stderr
    metrics = only_record(repo / ".journal")["metrics"]
    assert metrics["acc"] == 82.476 and metrics["n"] == 7
    assert metrics["loss"] == float("inf") and metrics["gap"] == float("-inf")
    assert metrics["x"] != metrics["x"]                       # nan


def test_an_unknown_table_in_the_config_is_one_line(repo: Path) -> None:
    (repo / ".journal").mkdir()
    (repo / ".journal" / "config.toml").write_text("[metric]\npatterns = []\n")
    line = one_error(journal("new", "-n", "x", cwd=repo))
    assert "unknown setting 'metric'" in line
    assert not (repo / ".journal" / "runs").exists()


def test_a_crashed_run_is_crashed_everywhere_with_what_its_script_logged(repo: Path) -> None:
    """A wrapper killed (SIGKILL) before its final write: grep and the report say `crashed` as
    `list` does, and `show` brings in the params and metrics the script had logged."""
    import signal
    import time

    marker = repo / "logged.marker"
    script = ("import journal, time, sys\nrun = journal.start(params={'lr': 0.1})\n"
              "run.log(step=1, acc=0.75)\nopen(sys.argv[1], 'w').close()\ntime.sleep(30)\n")
    (repo / "train.py").write_text(script)
    proc = subprocess.Popen([PY, "-m", "journal", "new", "-q", "--", PY, "train.py", str(marker)],
                            cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)          # the wrapper and the script, no final write
    proc.wait()
    assert only_record(repo / ".journal")["status"] == "running"
    assert b"status:crashed" in journal("grep", "crashed", cwd=repo).stdout
    assert b"  status    crashed" in journal("show", "-f", "report", cwd=repo).stdout
    shown = json.loads(journal("show", "-f", "json", cwd=repo).stdout)
    assert shown["metrics"] == {"acc": 0.75} and shown["params"]["lr"] == 0.1
    assert any("side file" in problem for problem in shown["problems"])


def test_every_character_printable_escapes_is_one_str_isprintable_refuses() -> None:
    """printable() returns text that str.isprintable() accepts as it is: that holds only while
    every character it escapes is one isprintable() refuses."""
    from journal import text

    named = [char for char in map(chr, range(0x110000)) if text._UNSAFE_ONE_LINE.fullmatch(char)]
    assert named and not any(char.isprintable() for char in named)


def test_limits_of_times_counts_and_patterns_are_one_line(tmp_path: Path) -> None:
    """Found by an attack: each was a traceback."""
    from readkit import cli, one_error_line, write_run

    write_run(tmp_path / ".journal")
    for args, said in ((["list", "--since", "99999999mo"], "out of range"),
                       (["list", "--since", "10000 years ago"], "out of range"),
                       (["list", "--since", "9" * 5000 + "d"], "out of range"),
                       (["grep", "(" * 5000 + "a" + ")" * 5000], "bad regular expression"),
                       (["list", "--where", "x~" + "(" * 5000 + "a" + ")" * 5000], "bad regex"),
                       (["show", "@~" + "9" * 5000], "unknown run")):
        assert said in one_error_line(cli(*args, cwd=tmp_path)), args[:2]
    (tmp_path / ".journal" / "config.toml").write_text("[capture]\ngit_timeout = nan\n")
    assert "must be a number below 1e9" in one_error_line(cli("new", "-n", "x", cwd=tmp_path))


def test_a_reader_that_goes_away_is_exit_141_not_nothing_found(tmp_path: Path) -> None:
    """`journal grep x | head -1`: typer said exit 1, which to grep means "no match"."""
    import subprocess
    import sys

    from readkit import write_run

    run_id = write_run(tmp_path / ".journal")
    write_run(tmp_path / ".journal", run_id=run_id, log={"path": f"logs/{run_id}.log"})
    logs = tmp_path / ".journal" / "logs"
    logs.mkdir()
    (logs / f"{run_id}.log").write_text("match here\n" * 200_000)
    # Standard output a pipe whose reader is gone already: this machine's pipes take megabytes
    # before a writer waits, so a reader closing mid-way cannot be timed here.
    code = ("import os, sys\nread, write = os.pipe()\nos.close(read)\nos.dup2(write, 1)\n"
            "from journal.cli.main import main\nmain(sys.argv[1:])\n")
    for args in (["grep", "match"], ["list"], ["tail", run_id], ["show", run_id, "--log"]):
        done = subprocess.run([sys.executable, "-c", code, *args], cwd=tmp_path,
                              capture_output=True, timeout=60)
        assert done.returncode == 141 and b"Traceback" not in done.stderr, (args, done.stderr)
