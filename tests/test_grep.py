"""`journal grep`: every searchable field and the real logs of real runs, -F, -i, -l, --json,
--no-logs, the shared filters, exit statuses, and hostile text printed escaped."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import _SEALED_GIT, journal, make_repo, records
from readkit import both, cli, now, one_error_line, write_run

TRAIN = """\
import sys
print("epoch 1 acc 80.1")
sys.stdout.write("\\r10%\\r50%\\r100% done\\n")
print("final acc 82.476")
"""
ECOLE = 'print("\\u017ftep 300 of the run")\n'        # the long s: -i STEP finds it
HOSTILE = ('import sys\nsys.stdout.buffer.write(b"\\x1b]52;c;aGk=\\x07 secret\\n'
           '\\xff\\xfe binary acc\\n\\xe2\\x80\\xaeevil\\n")\n')


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str]]]:
    """Three real runs made through the CLI, shared read-only by the tests of this module
    (each test still has its own cache folder, so its own index)."""
    home = tmp_path_factory.mktemp("grephome")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {**_SEALED_GIT, "HOME": str(home),
                            "XDG_CACHE_HOME": str(home / ".cache"),
                            "XDG_CONFIG_HOME": str(home / ".config")}.items():
            patch.setenv(name, value)
        for name in ("JOURNAL_DIR", "JOURNAL_RUN_ID", "GIT_DIR", "GIT_WORK_TREE"):
            patch.delenv(name, raising=False)
        (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
        repo = make_repo(tmp_path_factory.mktemp("grep") / "repo",
                         {"train.py": TRAIN, "ecole.py": ECOLE, "hostile.py": HOSTILE})
        for args in (
            ("-n", "baseline with adam\nsecond line of the note", "-t", "baseline",
             "-m", "acc=82.476", "--", "python", "train.py", "--lr", "3e-4", "--opt", "adam"),
            ("-n", "École d'été, 300 \u212a", "-t", "été", "--", "python", "ecole.py"),
            ("-n", "hostile \x1b]52;c;aGk=\x07 note \u202eevil", "--", "python", "hostile.py"),
        ):
            done = journal("new", "-q", *args, cwd=repo)
            assert done.returncode == 0, done.stderr
        done = journal("note", "@~2", "data leak found later", cwd=repo)
        assert done.returncode == 0, done.stderr
        ids = [record["id"] for record in records(repo / ".journal")]
        yield repo, ids


def test_where_did_that_number_come_from(made: tuple[Path, list[str]]) -> None:
    repo, (train, _ecole, _hostile) = made
    result = both("grep", "-F", "82.476", cwd=repo)
    assert result.code == 0 and result.err == ""
    assert result.lines == [f"{train}:metrics.acc:acc = 82.476", f"{train}:log:3:final acc 82.476"]


@pytest.mark.parametrize(("pattern", "where", "line"), [
    ("second line", "note", "second line of the note"),
    ("leak", "amendment", "data leak found later"),
    ("^baseline$", "tag", "baseline"),
    ("lr =", "params.lr", "lr = 0.0003"),
    ("opt = adam", "params.opt", "opt = adam"),
    ("train.py --lr", "command", "python train.py --lr 3e-4 --opt adam"),
    ("^main$", "git.branch", "main"),
    ("epoch", "log:1", "epoch 1 acc 80.1"),
    ("^final", "log:3", "final acc 82.476"),          # `^` anchors at the line's own start
    ("^baseline with", "note", "baseline with adam"),
])
def test_fields_of_the_first_run(made: tuple[Path, list[str]], pattern: str, where: str,
                                 line: str) -> None:
    repo, (train, _ecole, _hostile) = made
    result = both("grep", pattern, cwd=repo)
    assert f"{train}:{where}:{line}" in result.lines, result.lines


def test_git_commit_is_searchable(made: tuple[Path, list[str]]) -> None:
    repo, ids = made
    commit = records(repo / ".journal")[0]["git"]["commit"]
    result = both("grep", "-l", "-F", commit[:12], "--no-logs", cwd=repo)
    assert result.lines == ids[::-1]


def test_progress_bars_show_the_part_left_visible(made: tuple[Path, list[str]]) -> None:
    repo, (train, _ecole, _hostile) = made
    assert both("grep", "done", cwd=repo).lines == [f"{train}:log:2:100% done"]
    assert both("grep", "50%", cwd=repo).lines == [f"{train}:log:2:50%"]
    assert "\r" not in both("grep", "%", cwd=repo).out


def test_fixed_strings(made: tuple[Path, list[str]]) -> None:
    repo, (train, _ecole, _hostile) = made
    assert both("grep", "-F", "3e-4 --opt", cwd=repo).lines == [
        f"{train}:command:python train.py --lr 3e-4 --opt adam"]
    assert both("grep", "-F", "acc (", cwd=repo).code == 1
    assert both("grep", "82.4.6", cwd=repo).code == 0      # a regex: `.` is any character
    assert both("grep", "-F", "82.4.6", cwd=repo).code == 1


def test_ignore_case_folds_beyond_ascii(made: tuple[Path, list[str]]) -> None:
    repo, (_train, ecole, _hostile) = made
    assert both("grep", "ÉCOLE", cwd=repo).code == 1
    assert both("grep", "-i", "ÉCOLE", cwd=repo).lines == [f"{ecole}:note:École d'été, 300 \u212a"]
    assert both("grep", "-i", "-F", "ÉTÉ", "--no-logs", cwd=repo).lines == [
        f"{ecole}:note:École d'été, 300 \u212a", f"{ecole}:tag:été"]
    # Python's -i matches the Kelvin sign to k and the long s to s; so must every shortcut.
    assert both("grep", "-i", "-F", "300 k", "--no-logs", cwd=repo).lines == [
        f"{ecole}:note:École d'été, 300 \u212a"]
    assert both("grep", "-i", "STEP 300", cwd=repo).lines == [f"{ecole}:log:1:\u017ftep 300 of the run"]


def test_ids_only_newest_first_once_each(made: tuple[Path, list[str]]) -> None:
    repo, (train, _ecole, hostile) = made
    # acc: the first run in a metric and its log, the third only in its log.
    result = both("grep", "-l", "acc", cwd=repo)
    assert result.lines == [hostile, train]
    assert both("grep", "-l", "acc", "--no-logs", cwd=repo).lines == [train]


def test_json_lines(made: tuple[Path, list[str]]) -> None:
    repo, (train, _ecole, _hostile) = made
    result = both("grep", "--json", "acc 8", cwd=repo)
    matches = [json.loads(line) for line in result.lines]
    assert matches == [
        {"id": train, "where": "log:1", "line": "epoch 1 acc 80.1", "match": [8, 13]},
        {"id": train, "where": "log:3", "line": "final acc 82.476", "match": [6, 11]},
    ]


def test_json_of_a_log_that_is_not_utf8_in_a_real_process(made: tuple[Path, list[str]]) -> None:
    repo, (_train, _ecole, hostile) = made
    done = journal("grep", "--json", "binary", cwd=repo)
    assert done.returncode == 0, done.stderr
    text = done.stdout.decode("utf-8")                     # valid UTF-8, whatever the log held
    assert "\x1b" not in text
    match = json.loads(text)
    assert match["id"] == hostile and match["line"] == "\udcff\udcfe binary acc"
    plain = journal("grep", "binary", cwd=repo)
    assert plain.stdout.decode() == f"{hostile}:log:2:\\xff\\xfe binary acc\n"


def test_hostile_text_is_printed_escaped(made: tuple[Path, list[str]]) -> None:
    repo, (_train, _ecole, hostile) = made
    out = both("grep", "secret|note|evil", cwd=repo).out
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]", out), repr(out)
    assert f"{hostile}:log:1:\\x1b]52;c;aGk=\\x07 secret" in out
    assert f"{hostile}:note:hostile \\x1b]52;c;aGk=\\x07 note \\u202eevil" in out
    assert f"{hostile}:log:3:\\u202eevil" in out
    as_json = both("grep", "--json", "secret", cwd=repo).out
    assert "\x1b" not in as_json and "\x07" not in as_json
    assert json.loads(as_json)["line"] == "\x1b]52;c;aGk=\x07 secret"


def test_no_logs(made: tuple[Path, list[str]]) -> None:
    repo, (train, _ecole, _hostile) = made
    assert both("grep", "--no-logs", "-F", "82.476", cwd=repo).lines == [
        f"{train}:metrics.acc:acc = 82.476"]
    assert both("grep", "--no-logs", "epoch", cwd=repo).code == 1


def test_filters(made: tuple[Path, list[str]]) -> None:
    repo, (train, ecole, hostile) = made
    assert both("grep", "-l", "python", "--tag", "baseline", cwd=repo).lines == [train]
    assert both("grep", "-l", "python", "--where", "lr<1", cwd=repo).lines == [train]
    assert both("grep", "-l", "python", "--where", "note~^É", cwd=repo).lines == [ecole]
    assert both("grep", "-l", "python", "--since", "1h", cwd=repo).lines == [hostile, ecole, train]
    nothing = both("grep", "python", "--status", "failed", cwd=repo)
    assert (nothing.code, nothing.out, nothing.err) == (1, "", "")


def test_exit_statuses(made: tuple[Path, list[str]]) -> None:
    repo, _ids = made
    assert both("grep", "acc", cwd=repo).code == 0
    missing = both("grep", "no such text anywhere", cwd=repo)
    assert (missing.code, missing.out, missing.err) == (1, "", "")
    line = one_error_line(cli("grep", "acc(", cwd=repo))
    assert line.startswith("journal: error: bad regular expression 'acc(': missing ), ")
    assert cli("grep", "-F", "acc(", cwd=repo).code == 1


def test_whole_words_as_grep_w(made: tuple[Path, list[str]]) -> None:
    repo, (train, _ecole, hostile) = made
    assert both("grep", "-w", "ac", cwd=repo).code == 1           # `acc` is not the word `ac`
    assert both("grep", "-wl", "acc", cwd=repo).lines == [hostile, train]
    assert both("grep", "-w", "-F", "82.4", cwd=repo).code == 1   # a part of 82.476
    assert both("grep", "-w", "-F", "82.476", "--no-logs", cwd=repo).lines == [
        f"{train}:metrics.acc:acc = 82.476"]
    # grep's -w is a whole word; --where keeps its long form only here.
    assert both("grep", "-wi", "ADAM", "--where", "lr<1", "--no-logs", cwd=repo).lines == [
        f"{train}:note:baseline with adam",
        f"{train}:command:python train.py --lr 3e-4 --opt adam", f"{train}:params.opt:opt = adam"]


def test_several_patterns_with_e(made: tuple[Path, list[str]]) -> None:
    repo, (train, ecole, hostile) = made
    assert both("grep", "-l", "-e", "École", "-e", "binary", cwd=repo).lines == [hostile, ecole]
    assert both("grep", "-F", "-e", "acc (", "-e", "82.476", "--no-logs", cwd=repo).lines == [
        f"{train}:metrics.acc:acc = 82.476"]
    assert both("grep", "-il", "-e", "ÉCOLE", "-e", "leak", "--no-logs", cwd=repo).lines == [
        ecole, train]
    line = one_error_line(cli("grep", "-e", "fine", "-e", "acc(", cwd=repo))
    assert line.startswith("journal: error: bad regular expression 'acc(':")
    assert "PATTERN or with -e" in one_error_line(cli("grep", "acc", "-e", "x", cwd=repo))
    assert "missing the PATTERN" in one_error_line(cli("grep", "--no-logs", cwd=repo))


def test_inverted_counted_and_runs_without_a_match(made: tuple[Path, list[str]]) -> None:
    repo, (train, ecole, hostile) = made
    # -v: the lines without a match, a progress bar's visible part shown.
    inverted = both("grep", "-v", "[a-z]", cwd=repo)
    assert inverted.code == 0 and all(not re.search("[a-z]", line.split(":", 2)[2])
                                      for line in inverted.lines), inverted.lines
    assert f"{train}:metrics.acc:acc = 82.476" not in both("grep", "-v", "acc", cwd=repo).lines
    assert f"{train}:log:2:100% done" in both("grep", "-v", "acc", cwd=repo).lines
    assert both("grep", "-v", "-e", "", "--no-logs", cwd=repo).code == 1   # every line matches ''
    # -c: the number of selected lines of each run that has any, as rg -c prints it.
    counted = both("grep", "-c", "acc", cwd=repo).lines
    assert counted == [f"{hostile}:1", f"{train}:3"]
    assert [json.loads(line) for line in both("grep", "-c", "--json", "acc", cwd=repo).lines] == [
        {"id": hostile, "count": 1}, {"id": train, "count": 3}]
    every = both("grep", "-c", "-v", "acc", cwd=repo).lines
    assert [line.split(":")[0] for line in every] == [hostile, ecole, train]
    # -L: the runs without a match, and it succeeds when it lists one (GNU grep 3.5+).
    assert both("grep", "-L", "acc", cwd=repo).lines == [ecole]
    assert both("grep", "-L", "acc", "--no-logs", cwd=repo).lines == [hostile, ecole]
    assert both("grep", "-L", "python", cwd=repo).code == 1


def test_quiet_no_id_extended_and_json_ids(made: tuple[Path, list[str]]) -> None:
    repo, (train, ecole, hostile) = made
    quiet = both("grep", "-q", "acc", cwd=repo)
    assert (quiet.code, quiet.out, quiet.err) == (0, "", "")
    assert both("grep", "-q", "no such text anywhere", cwd=repo).code == 1
    assert both("grep", "-h", "-F", "82.476", cwd=repo).lines == [
        "metrics.acc:acc = 82.476", "log:3:final acc 82.476"]
    assert both("grep", "-E", "-l", "École|binary", cwd=repo).lines == [hostile, ecole]
    assert [json.loads(line) for line in both("grep", "--json", "-l", "acc", cwd=repo).lines] == [
        {"id": hostile}, {"id": train}]
    assert [json.loads(line) for line in both("grep", "--json", "-L", "acc", cwd=repo).lines] == [
        {"id": ecole}]
    coloured = cli("grep", "-l", "--color", "always", "École", cwd=repo)
    assert coloured.lines == [f"\x1b[35m{ecole}\x1b[m"]
    assert "Usage: journal grep" in cli("grep", "--help", cwd=repo).out
    # A pattern's own global flags survive being joined (-e) or wrapped (-w).
    assert both("grep", "-w", "(?i)ADAM", "--no-logs", "-l", cwd=repo).lines == [train]
    assert both("grep", "-l", "-e", "(?i)écoLE", "-e", "binary", cwd=repo).lines == [hostile, ecole]
    assert both("grep", "-l", "-e", "(?i)écoLE", "-e", "BINARY", cwd=repo).lines == [ecole]
    assert both("grep", "-c", "-e", "(?x) bin ary  # a comment", "-e", "x", "--no-logs",
                cwd=repo).code == 1
    mistaken = cli("grep", "adam", "-w", "opt=adam", cwd=repo)
    assert mistaken.code == 2 and "a condition on params or metrics goes with --where" in mistaken.err


def test_grep_in_an_empty_or_missing_journal(tmp_path: Path) -> None:
    assert cli("grep", "x", cwd=tmp_path).code == 1
    (tmp_path / ".journal" / "runs").mkdir(parents=True)
    assert both("grep", "x", cwd=tmp_path).code == 1


def test_odd_records_do_not_break_grep(tmp_path: Path) -> None:
    """Valid TOML that a hand broke: scalars where lists belong, tabs and newlines in names."""
    jd = tmp_path / ".journal"
    odd = write_run(jd, tags=5, amendments="not a table", problems=3, command="python x.py",
                    params={"a\tb": 1, "c\nd": "e", "$date": "2026"},
                    git={"commit": "abc", "changed": "one.py"})
    normal = write_run(jd, now().replace(year=now().year - 1), note="fine")
    result = both("grep", "-l", ".", cwd=tmp_path)
    assert result.lines == [odd, normal]
    lines = both("grep", "--no-logs", "python x|one.py|^5$|^d = e$", cwd=tmp_path).lines
    assert lines == [f"{odd}:tag:5", f"{odd}:command:python x.py",
                     f"{odd}:params.c\\x0ad:d = e", f"{odd}:git.changed:one.py"]
    tabbed = both("grep", "--json", "b = 1", cwd=tmp_path).lines
    assert [json.loads(line)["where"] for line in tabbed] == ["params.a\\x09b"]
    assert os.path.isdir(jd)


def test_many_runs_are_searched_by_workers_as_by_one_process(tmp_path: Path) -> None:
    """With many runs, ranges of runs are searched by forked workers: the output must be what
    one process prints, in the same order (newest first, each run's fields before its log)."""
    jd = tmp_path / ".journal"
    start = now() - dt.timedelta(days=40)
    ids = []
    for n in range(40):
        ids.append(write_run(jd, start + dt.timedelta(hours=n), note=f"trial {n}",
                             metrics={"acc": 82.476 if n % 7 == 0 else n},
                             status="running" if n == 39 else "finished", pid=2 ** 22 + 1))
        if n % 3 == 0:
            (jd / "logs").mkdir(exist_ok=True)
            (jd / "logs" / f"{ids[-1]}.log").write_text(f"epoch 1\nfinal ACC 82.476 of {n}\n")
    script = ("import os, sys\nimport journal.read.grep as grep\n"
              "grep.RANGE_RUNS, grep.PARALLEL_FROM = 3, 2\nsearch = grep._search_range\n"
              "def traced(between):\n"
              "    print('searched by', os.getpid(), file=sys.stderr)\n"
              "    return search(between)\n"
              "grep._search_range = traced\nprint('main', os.getpid(), file=sys.stderr)\n"
              "from journal.cli.main import main\nmain(sys.argv[1:])\n")
    for args in (["-F", "82.476"], ["-F", "82.476", "--no-logs"], ["-il", "acc"],
                 ["--json", "trial [12]"], ["-F", "82.476", "--where", "acc>50"],
                 ["crashed"], ["-F", "nowhere"], ["-q", "-F", "82.476"], ["-c", "-v", "trial"]):
        alone = cli("grep", *args, cwd=tmp_path)
        done = subprocess.run([sys.executable, "-c", script, "grep", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
        lines = done.stderr.splitlines()
        searchers = {line.split()[-1] for line in lines if line.startswith("searched by")}
        main = {line.split()[-1] for line in lines if line.startswith("main")}
        assert searchers and main and not searchers & main, done.stderr
        assert (done.returncode, done.stdout) == (alone.code, alone.out), args
    assert cli("grep", "-F", "82.476", cwd=tmp_path).out.count("\n") == 6 + 14
    assert cli("grep", "-l", "crashed", cwd=tmp_path).lines == [ids[39]]


def test_a_log_linked_outside_the_journal_is_not_read(tmp_path: Path) -> None:
    """As `show --log` and `tail`: a log is never read from outside the journal folder."""
    journal_dir = tmp_path / ".journal"
    run_id = write_run(journal_dir)
    other = write_run(journal_dir, now() - dt.timedelta(hours=1))
    (journal_dir / "logs").mkdir()
    secret = tmp_path / "outside.txt"
    secret.write_text("SECRET from outside\n")
    (journal_dir / "logs" / f"{run_id}.log").symlink_to(secret)
    (journal_dir / "logs" / f"{other}.log").write_text("SECRET kept inside\n")
    (journal_dir / "logs" / "inside.txt").write_text("SECRET linked inside\n")
    assert both("grep", "-l", "SECRET", cwd=tmp_path).lines == [other]
    (journal_dir / "logs" / f"{run_id}.log").unlink()
    (journal_dir / "logs" / f"{run_id}.log").symlink_to(journal_dir / "logs" / "inside.txt")
    assert both("grep", "-l", "SECRET", cwd=tmp_path).lines == [run_id, other]


def test_a_large_log_is_searched_a_block_at_a_time_with_the_same_answers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import journal.read.grep as grep_module

    journal_dir = tmp_path / ".journal"
    run_id = write_run(journal_dir)
    (journal_dir / "logs").mkdir()
    lines = [f"step {n} loss {1 / (n + 1):.4f}" + ("\r50%\r100% ACC" if n % 97 == 0 else "")
             for n in range(3000)]
    (journal_dir / "logs" / f"{run_id}.log").write_text("\n".join(lines))   # no final newline
    searches = (["ACC"], ["-c", "loss"], ["-v", "-c", "step 1"], ["-F", "step 2999"],
                ["-l", "nowhere"], ["-v", "loss 0"])
    whole = [cli("grep", *args, cwd=tmp_path) for args in searches]
    monkeypatch.setattr(grep_module, "LOG_BLOCK", 100)      # many blocks, lines cut across them
    for args, expected in zip(searches, whole):
        assert cli("grep", *args, cwd=tmp_path) == expected, args
    assert f"{run_id}:log:3000:step 2999 loss 0.0003" in whole[3].lines
    assert whole[0].lines[1] == f"{run_id}:log:98:100% ACC"
    # A log of `\r` progress only, no newline: searched in pieces, memory bounded.
    (journal_dir / "logs" / f"{run_id}.log").write_text("".join(f"\r{n}%" for n in range(900)))
    assert cli("grep", "-c", "899%", cwd=tmp_path).lines == [f"{run_id}:1"]


def test_a_worker_killed_mid_search_is_an_error_not_a_hang(tmp_path: Path) -> None:
    """The OOM killer, a kill -9: the pool would wait for the lost work for ever."""
    jd = tmp_path / ".journal"
    for n in range(12):
        write_run(jd, now() - dt.timedelta(hours=n + 1), note=f"trial {n}")
    script = ("import os, signal, sys\nimport journal.read.grep as grep\n"
              "grep.RANGE_RUNS, grep.PARALLEL_FROM = 3, 2\nsearch = grep._search_range\n"
              "def dying(between):\n"
              "    if between[0].endswith(sys.argv[1]):\n"
              "        os.kill(os.getpid(), signal.SIGKILL)\n"
              "    return search(between)\n"
              "grep._search_range = dying\n"
              "from journal.cli.main import main\nmain(['grep', 'trial'])\n")
    newest = cli("grep", "-l", "trial", cwd=tmp_path).lines[3]     # the second range's first
    done = subprocess.run([sys.executable, "-c", script, newest[-6:]], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "a worker process died before its work was done" in done.stderr
