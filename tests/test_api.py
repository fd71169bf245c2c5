"""The Python API: `journal.start()`, `run.log()`, `journal.logger()`, standalone and under
`journal new`, with real scripts in real subprocesses."""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import git, journal, only_record, records

from journal import api
from journal.api.values import plain_params
from journal.store import sidefile
from journal.store.paths import run_path
from journal.store.records import amend_record

PY = sys.executable

TRAIN = textwrap.dedent("""\
    import argparse
    import journal

    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--opt", default="adam")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--resume", default=None)
    args = parser.parse_args()

    run = journal.start(params=args)
    for step in range(100):
        run.log(step=step, loss=1.0 / (step + 1), acc=step / 100)
    run.log(**{"val/acc": 0.8})
    run.finish()
    print("done")
""")


def write_script(repo: Path, text: str, name: str = "train.py") -> Path:
    path = repo / name
    path.write_text(textwrap.dedent(text))
    return path


def run_script(repo: Path, *args: str, env: dict[str, str] | None = None
               ) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([PY, *args], cwd=repo, env=env, capture_output=True, timeout=60)


def side_lines(journal_dir: Path, run_id: str) -> list[dict]:  # type: ignore[type-arg]
    text = sidefile.path(journal_dir, run_id).read_text()
    return [json.loads(line) for line in text.splitlines()]


# --- one run, one record ------------------------------------------------------------------------

def test_script_under_journal_new_gives_one_record_with_its_params_and_metrics(repo: Path) -> None:
    write_script(repo, TRAIN)
    secret = "sk-live0123456789abcdefghijkl"
    done = journal("new", "-q", "-n", "why", "--", PY, "train.py", "--lr", "3e-4",
                   "--api-key", secret, cwd=repo)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"done\n"
    record = only_record(repo / ".journal")
    assert record["status"] == "finished" and record["exit_code"] == 0
    assert record["command"] == [PY, "train.py", "--lr", "3e-4", "--api-key", "***"]
    # argparse gives the defaults too, typed; None stays (TOML has no null: `{}` stands for it)
    assert record["params"] == {"lr": 0.0003, "api_key": "***", "batch_size": 32, "opt": "adam",
                                "resume": {}}
    assert record["metrics"] == {"loss": 0.01, "acc": 0.99, "val/acc": 0.8}
    assert record["series"] == {"path": f"metrics/{record['id']}.jsonl", "points": 101}
    lines = side_lines(repo / ".journal", record["id"])
    assert lines[0]["params"]["api_key"] == "***"
    assert [line["step"] for line in lines[1:101]] == list(range(100))
    assert all(isinstance(line["t"], float) for line in lines)
    assert secret not in (repo / ".journal" / record["series"]["path"]).read_text()


def test_same_script_standalone_gives_its_own_record_with_the_same_capture(repo: Path) -> None:
    write_script(repo, TRAIN)
    done = run_script(repo, "train.py", "--lr", "3e-4")
    assert done.returncode == 0, done.stderr
    record = only_record(repo / ".journal")
    assert record["status"] == "finished" and "exit_code" not in record
    assert record["command"] == ["train.py", "--lr", "3e-4"]
    assert record["params"] == {"lr": 0.0003, "batch_size": 32, "opt": "adam", "api_key": {},
                                "resume": {}}             # None, as TOML holds it
    assert record["metrics"] == {"loss": 0.01, "acc": 0.99, "val/acc": 0.8}
    assert record["series"]["points"] == 101
    assert record["duration"] >= 0 and record["ended"] >= record["started"]
    # the same code capture as `journal new`
    assert journal("new", "-n", "compare", cwd=repo).returncode == 0
    cli = records(repo / ".journal")[1]["git"]
    assert record["git"]["commit"] == git(repo, "rev-parse", "HEAD").strip()
    assert {k: v for k, v in record["git"].items() if k != "patch"} == \
        {k: v for k, v in cli.items() if k != "patch"}
    assert (record["git"]["changed"], record["git"]["untracked"]) == (["train.py"], [])
    patch = (repo / ".journal" / record["git"]["patch"]).read_text()
    assert "+run = journal.start(params=args)" in patch
    # the final report, on stderr
    report = done.stderr.decode()
    assert report.startswith(f"journal run {record['id']}\n")
    assert re.search(r"^  metrics   loss    = 0\.01$", report, re.M)


@pytest.mark.parametrize("wrapped", [False, True])
def test_exception_in_with_block_marks_the_run_failed_and_propagates(repo: Path, wrapped: bool
                                                                     ) -> None:
    write_script(repo, """\
        import journal
        with journal.start(note="shape test") as run:
            run.log(acc=0.5)
            raise ValueError("bad shape (3, 4)")
    """)
    done = (journal("new", "-q", "--", PY, "train.py", cwd=repo) if wrapped
            else run_script(repo, "train.py"))
    assert done.returncode == 1
    assert b"ValueError: bad shape (3, 4)" in done.stderr   # the traceback still shows
    record = only_record(repo / ".journal")
    assert record["status"] == "failed"
    assert record["error"] == "ValueError: bad shape (3, 4)"
    assert record["metrics"] == {"acc": 0.5}
    assert record["note"] == "shape test"
    assert record.get("exit_code") == (1 if wrapped else None)


def test_script_dying_of_an_uncaught_exception_is_failed_at_exit(repo: Path) -> None:
    write_script(repo, """\
        import sys
        import journal
        sys.excepthook = lambda *exc: print("custom hook", file=sys.stderr)
        journal.log(acc=2)          # no start(): the module-level log starts the run
        raise KeyError("missing")
    """)
    done = run_script(repo, "train.py")
    assert done.returncode == 1 and b"custom hook" in done.stderr
    record = only_record(repo / ".journal")
    assert (record["status"], record["error"]) == ("failed", "KeyError: 'missing'")
    assert record["metrics"] == {"acc": 2}


def test_ctrl_c_is_interrupted_and_a_normal_exit_without_finish_is_finished(repo: Path) -> None:
    write_script(repo, "import journal\njournal.start(quiet=True)\nraise KeyboardInterrupt\n")
    done = run_script(repo, "train.py")
    assert done.returncode == -signal.SIGINT
    assert only_record(repo / ".journal")["status"] == "interrupted"
    write_script(repo, "import journal\njournal.log(step=3, acc=0.9)\n", name="quiet.py")
    done = run_script(repo, "quiet.py")
    assert done.returncode == 0
    last = records(repo / ".journal")[-1]
    assert last["status"] == "finished" and last["metrics"] == {"acc": 0.9}


def test_sigkilled_child_keeps_what_it_logged_and_the_record_parses(repo: Path) -> None:
    marker = repo / "marker"
    write_script(repo, f"""\
        import os, time
        import journal
        run = journal.start(params={{"lr": 0.1}})
        run.log(early=1.5)
        open({str(marker)!r}, "w").write(str(os.getpid()))
        step = 0
        while True:                      # thousands of calls a second, until killed
            run.log(step=step, fast=step)
            step += 1
    """)
    wrapper = subprocess.Popen([PY, "-m", "journal", "new", "-q", "--", PY, "train.py"], cwd=repo,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while not marker.exists() or not marker.read_text():
        assert time.monotonic() < deadline and wrapper.poll() is None
        time.sleep(0.02)
    time.sleep(1.2)
    os.kill(int(marker.read_text()), signal.SIGKILL)
    _, err = wrapper.communicate(timeout=60)
    assert wrapper.returncode == 137, err
    record = only_record(repo / ".journal")       # parses
    assert (record["status"], record["exit_code"]) == ("killed", 137)
    assert record["params"] == {"lr": 0.1}
    assert record["metrics"]["early"] == 1.5
    assert record["metrics"]["fast"] > 100
    assert record["series"]["points"] == record["metrics"]["fast"] + 2


def start_and_wait_for(repo: Path, marker: Path) -> subprocess.Popen[bytes]:
    """`python train.py` started, once it has created `marker` (its run is on record)."""
    script = subprocess.Popen([PY, "train.py"], cwd=repo, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while not marker.exists():
        assert time.monotonic() < deadline and script.poll() is None
        time.sleep(0.02)
    return script


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_standalone_run_killed_by_a_signal_is_recorded_killed(repo: Path, signum: int) -> None:
    marker = repo / "marker"
    write_script(repo, f"""\
        import time
        import journal
        run = journal.start(note="on the cluster")
        run.log(acc=0.5)
        open({str(marker)!r}, "w").close()
        time.sleep(60)
    """)
    script = start_and_wait_for(repo, marker)
    script.send_signal(signum)
    _, err = script.communicate(timeout=30)
    assert script.returncode == -signum, err     # the signal still does what it would have done
    record = only_record(repo / ".journal")
    name = signal.Signals(signum).name
    assert (record["status"], record["exit_code"], record["error"]) == \
        ("killed", 128 + signum, f"killed by {name}")
    assert record["metrics"] == {"acc": 0.5} and record["duration"] >= 0


def test_a_scripts_own_sigterm_handler_is_kept(repo: Path) -> None:
    marker = repo / "marker"
    write_script(repo, f"""\
        import signal, sys, time
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(7))     # saves a checkpoint, say
        import journal
        with journal.start():
            open({str(marker)!r}, "w").close()
            time.sleep(60)
    """)
    script = start_and_wait_for(repo, marker)
    script.send_signal(signal.SIGTERM)
    _, err = script.communicate(timeout=30)
    assert script.returncode == 7, err
    record = only_record(repo / ".journal")
    assert (record["status"], record["exit_code"]) == ("failed", 7)


def test_many_logs_and_a_concurrent_amendment_never_overwrite_each_other(repo: Path) -> None:
    marker, go = repo / "marker", repo / "go"
    write_script(repo, f"""\
        import os, time
        import journal
        run = journal.start(note="from the script", tags=["api"])
        open({str(marker)!r}, "w").close()
        while not os.path.exists({str(go)!r}):
            time.sleep(0.01)
        for step in range(20000):
            run.log(step=step, loss=step)
    """)
    wrapper = subprocess.Popen([PY, "-m", "journal", "new", "-q", "-n", "from the wrapper",
                                "-t", "cli", "--", PY, "train.py"], cwd=repo,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while not marker.exists():
        assert time.monotonic() < deadline and wrapper.poll() is None
        time.sleep(0.02)
    running = only_record(repo / ".journal")
    assert running["note"] == "from the wrapper\n\nfrom the script"
    assert running["tags"] == ["cli", "api"]
    # an amendment by hand while the script logs (what `journal note` does: a locked rewrite)
    path = run_path(repo / ".journal", running["id"])
    go.touch()

    amend_record(path, lambda current: {**current, "note": "amended while running"},
                 mask=lambda record: record)
    _, err = wrapper.communicate(timeout=60)
    assert wrapper.returncode == 0, err
    record = only_record(repo / ".journal")
    assert record["note"] == "amended while running"
    assert record["tags"] == ["cli", "api"]
    assert record["metrics"] == {"loss": 19999}
    assert record["series"]["points"] == 20000
    assert len(side_lines(repo / ".journal", record["id"])) == 20000


def test_run_id_left_in_the_environment_gives_the_script_its_own_record(repo: Path) -> None:
    assert journal("new", "-n", "old", "--", "true", cwd=repo).returncode == 0
    old = only_record(repo / ".journal")
    write_script(repo, "import journal\njournal.start(quiet=True).log(acc=1)\n")
    env = {**os.environ, "JOURNAL_RUN_ID": old["id"], "JOURNAL_DIR": str(repo / ".journal")}
    assert run_script(repo, "train.py", env=env).returncode == 0
    old_again, new = records(repo / ".journal")
    assert old_again == old                         # a finished run is not attached to
    assert new["metrics"] == {"acc": 1} and new["command"] == ["train.py"]


# --- the side file ------------------------------------------------------------------------------

def test_fold_skips_a_torn_last_line_and_lines_that_do_not_parse(tmp_path: Path) -> None:
    side = tmp_path / "run.jsonl"
    side.write_bytes(
        b'{"t":1.0,"params":{"lr":0.1,"gone":null,"deep":{"a":[1,null,2]}}}\n'
        b'{"t":1.0,"step":1,"metrics":{"loss":0.5,"acc":0.1}}\n'
        b'not json at all\n'
        b'[1, 2]\n'
        b'{"t":2.0,"metrics":{"loss":0.25,"text":"no","huge":1e999,"big":99999999999999999999}}\n'
        b'{"t":3.0,"status":"failed","error":"ValueError: x"}\n'
        b'{"t":4.0,"step":2,"metrics":{"loss":0.125'          # killed mid-write
    )
    folded = sidefile.fold(side)
    assert folded.params == {"lr": 0.1, "gone": None, "deep": {"a": [1, 2]}}
    assert folded.metrics == {"loss": 0.25, "acc": 0.1, "huge": float("inf")}
    assert folded.points == 2
    assert (folded.status, folded.error) == ("failed", "ValueError: x")
    assert sidefile.fold(tmp_path / "missing.jsonl") == sidefile.Folded()


# --- params and metrics -------------------------------------------------------------------------

class Opt(enum.Enum):
    ADAM = "adam"


@dataclasses.dataclass
class Inner:
    depth: int = 3


@dataclasses.dataclass
class Config:
    lr: float = 3e-4
    opt: Opt = Opt.ADAM
    out: Path = Path("runs/x")
    sizes: tuple[int, ...] = (64, 32)
    inner: Inner = dataclasses.field(default_factory=Inner)
    resume: str | None = None


def test_params_from_a_dict_a_namespace_or_a_dataclass() -> None:
    expected = {"lr": 0.0003, "opt": "adam", "out": "runs/x", "sizes": [64, 32],
                "inner": {"depth": 3}, "resume": None}
    assert plain_params(Config()) == expected
    namespace = argparse.Namespace(**dataclasses.asdict(Config()))
    assert plain_params(namespace) == expected
    assert plain_params({"lr": 1, "nested": {"a": None, "b": 2**70}}) == \
        {"lr": 1, "nested": {"a": None, "b": str(2**70)}}
    assert plain_params(None) == {}
    with pytest.raises(TypeError, match="params must be a dict"):
        plain_params(42)


def test_log_never_raises_in_the_training_loop_and_a_finished_run_takes_nothing(
        repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """What W&B and MLflow users write works (a dict, `step=`), params set after start are kept,
    and a value that is no number is one warning (per name), never an exception mid-training."""
    monkeypatch.chdir(repo)
    monkeypatch.setattr(sys, "argv", ["train.py"])     # not pytest's own options as params
    run = api.start(params={"lr": 0.1}, quiet=True)
    try:
        run.log({"loss": 0.5, "val/acc": 0.7}, step=1)
        run.log(acc="high")
        run.log(acc="higher")                         # warned once
        run.log(step=1.5, big=2**70)
        run.log(2, small=1)                          # the old order: step first
        run.log("oops")
        run.params["warmup"] = 500
        run.log_params(seed=1, resume=None)
        run.log(step=3, ok=True)
    finally:
        run.finish()
    run.finish()                                    # twice is harmless
    with pytest.raises(RuntimeError, match="is finished"):
        run.log(acc=1)
    assert api.current_run() is None
    warnings = capsys.readouterr().err.splitlines()
    assert warnings == [
        "journal: metric 'acc' is str, not a number: kept in the run's series only, not in [metrics]",
        f"journal: metric 'big' = {2**70} does not fit in 64 bits: kept as a float",
        "journal: step must be an integer, not float; logged without a step",
        "journal: run.log() takes a dict of metrics, not str; nothing was logged",
    ]
    record = only_record(repo / ".journal")
    assert record["metrics"] == {"loss": 0.5, "val/acc": 0.7, "big": float(2**70), "small": 1,
                                 "ok": True}
    assert record["params"] == {"lr": 0.1, "warmup": 500, "seed": 1, "resume": {}}
    lines = side_lines(repo / ".journal", record["id"])
    assert [line["metrics"].get("acc") for line in lines if "acc" in line["metrics"]] == \
        ["high", "higher"]
    assert [line.get("step") for line in lines] == [1, None, None, None, 2, 3]


def test_params_set_after_start_reach_the_wrappers_record(repo: Path) -> None:
    write_script(repo, """\
        import journal
        run = journal.start(params={"lr": 0.1})
        run.params["warmup"] = 500
        run.log({"loss": 0.5})
        run.log_params(seed=7, resume=None)
        """)
    done = journal("new", "-q", "--", PY, "train.py", cwd=repo)
    assert done.returncode == 0, done.stderr
    record = only_record(repo / ".journal")
    assert record["params"] == {"lr": 0.1, "warmup": 500, "seed": 7, "resume": {}}
    assert record["metrics"] == {"loss": 0.5}


# --- the logger ---------------------------------------------------------------------------------

LOGGING = """\
    import logging
    import journal
    log = journal.logger("train")         # before the run: the console only, until it starts
    log.info("before the run")
    run = journal.start(note="logger test", params={"lr": 0.1, "opt": "adam"}, quiet=True,
                        console=False)          # the log is the logger's, timestamped
    assert journal.logger("train") is log
    journal.logger()
    logging.getLogger("train.sub").info("epoch 1 done")
    print("handlers", len(logging.getLogger().handlers), len(log.handlers))
"""


def test_logger_standalone_writes_timestamped_lines_to_the_runs_log(repo: Path) -> None:
    write_script(repo, LOGGING)
    done = run_script(repo, "train.py")
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"handlers 2 0\n"        # console + file on the root, once
    record = only_record(repo / ".journal")
    log_file = repo / ".journal" / record["log"]["path"]
    assert record["log"] == {"path": f"logs/{record['id']}.log", "bytes": log_file.stat().st_size}
    console = done.stderr.decode().splitlines()
    assert console.count("epoch 1 done") == 1                      # plain on the console
    lines = log_file.read_text().splitlines()
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d "
    assert all(re.match(stamp, line) for line in lines)
    messages = [re.sub(stamp, "", line, count=1) for line in lines]
    commit = git(repo, "rev-parse", "--short=7", "HEAD").strip()
    assert messages == [
        f"journal run {record['id']}",
        "note: logger test",
        f"git: {commit}-dirty (main)",
        f"log file: {log_file}",
        "param: lr=0.1",
        "param: opt='adam'",
        "epoch 1 done",
    ]
    assert console == ["before the run", *messages]   # the same lines, without time stamps


def test_logger_under_journal_new_writes_each_line_once(repo: Path) -> None:
    write_script(repo, LOGGING)
    done = journal("new", "-q", "--", PY, "train.py", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"handlers 1 0\n"        # the console only: the wrapper keeps the log
    record = only_record(repo / ".journal")
    log_text = (repo / ".journal" / record["log"]["path"]).read_text()
    assert log_text.count("epoch 1 done") == log_text.count("before the run") == 1
    assert log_text.count(f"journal run {record['id']}") == 1
    assert "param: opt='adam'" in log_text


def test_import_journal_loads_nothing_heavy_even_when_logging(repo: Path) -> None:
    heavy = ["typer", "click", "git", "markdown_it", "tomlkit", "rich", "journal.api"]
    probe = ("import sys, journal\n"
             f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n"
             "journal.start(quiet=True).log(acc=1)\n"
             f"print(sorted(m for m in {heavy[:-1]!r} if m in sys.modules))\n")
    write_script(repo, probe)
    wrapped = journal("new", "-q", "--", PY, "train.py", cwd=repo)
    for done in (run_script(repo, "train.py"), wrapped):
        assert done.returncode == 0, done.stderr
        assert done.stdout == b"[]\n[]\n"


def test_a_sweep_in_one_process_gives_one_record_and_one_log_each(repo: Path) -> None:
    write_script(repo, """\
        import journal
        log = journal.logger()
        for lr in (0.1, 0.01):
            with journal.start(params={"lr": lr}, quiet=True) as run:
                log.info(f"training with {lr}")
                run.log(acc=lr * 2)
    """)
    done = run_script(repo, "train.py")
    assert done.returncode == 0, done.stderr
    first, second = records(repo / ".journal")
    for record, lr in ((first, 0.1), (second, 0.01)):
        assert (record["status"], record["params"], record["metrics"]) == \
            ("finished", {"lr": lr}, {"acc": lr * 2})
        text = (repo / ".journal" / record["log"]["path"]).read_text()
        assert text.count("training with") == 1 and f"training with {lr}\n" in text
        assert f"journal run {record['id']}\n" in text


def test_a_log_that_cannot_be_created_leaves_the_console_and_the_record(repo: Path) -> None:
    (repo / ".journal").mkdir()
    (repo / ".journal" / "logs").write_text("a file where the logs folder should be")
    write_script(repo, """\
        import journal
        run = journal.start(quiet=True)
        journal.logger().info("still logging")
        run.log(acc=1)
    """)
    done = run_script(repo, "train.py")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.decode().splitlines()
    assert lines[0].startswith("journal: cannot create the log ") and "console only" in lines[0]
    assert "still logging" in lines and b"Traceback" not in done.stderr
    record = only_record(repo / ".journal")
    assert record["status"] == "finished" and record["metrics"] == {"acc": 1}
    assert "log" not in record


METRIC_NAMES = """\
import journal
with journal.start(note="names", quiet=True) as run:
    run.log(step=1, loss_per_token=2.31, val_key=0.5, auth_rate=0.9)
print(run.record["status"], sorted(run.record.get("metrics", {}).items()))
"""


@pytest.mark.parametrize("wrapped", [False, True])
def test_metrics_named_like_credentials_keep_their_values(repo: Path, wrapped: bool) -> None:
    """Metrics are results: a name such as `val_key` does not make 0.5 a secret. The script's
    `run.record` says what was written, once the run is over."""
    write_script(repo, METRIC_NAMES)
    done = journal("new", "-q", "--", PY, "train.py", cwd=repo) if wrapped \
        else run_script(repo, "train.py")
    assert done.returncode == 0, done.stderr
    record = only_record(repo / ".journal")
    assert record["metrics"] == {"loss_per_token": 2.31, "val_key": 0.5, "auth_rate": 0.9}
    if not wrapped:
        assert done.stdout.decode().startswith(
            "finished [('auth_rate', 0.9), ('loss_per_token', 2.31), ('val_key', 0.5)]")


def test_redaction_names_never_apply_to_the_records_own_fields(repo: Path) -> None:
    (repo / ".journal").mkdir()
    (repo / ".journal" / "config.toml").write_text('[redact]\nnames = ["params", "note", "env"]\n')
    done = journal("new", "-q", "-n", "a plain note", "-p", "lr=0.1", "-p", "note=kept",
                   "--", "true", cwd=repo)
    assert done.returncode == 0, done.stderr
    record = only_record(repo / ".journal")
    assert record["note"] == "a plain note"
    assert record["params"] == {"lr": 0.1, "note": "***"}      # a param named `note` is masked


def test_a_standalone_run_keeps_what_it_printed_in_its_log(repo: Path) -> None:
    """`python train.py` with journal.start(): its prints, its stderr and its subprocesses'
    output reach the console as they are and the run's log as well (masked), so `journal grep`
    finds the number it printed."""
    write_script(repo, """\
        import os, subprocess, sys
        import journal
        print("before the run")
        run = journal.start(params={"lr": 0.1}, quiet=True)
        print("val acc 80.22")
        print("warning: hf_abcdefghijklmnopqrstuvwxyz0123456789 leaked", file=sys.stderr)
        subprocess.run([sys.executable, "-c", "print('from a child')"])
        os.write(1, b"raw bytes\\n")
        run.finish()
        print("after the run")
        """)
    done = run_script(repo, "train.py")
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"before the run\nval acc 80.22\nfrom a child\nraw bytes\nafter the run\n"
    assert b"hf_abcdefghijklmnopqrstuvwxyz0123456789" in done.stderr     # the console: as it is
    record = only_record(repo / ".journal")
    log = (repo / ".journal" / record["log"]["path"]).read_text()
    assert sorted(log.splitlines()) == sorted(["val acc 80.22", "warning: *** leaked",
                                               "from a child", "raw bytes"])
    assert record["log"]["bytes"] == len(log.encode())
    environment = record["environment"]
    assert (environment["python"], environment["executable"]) == \
        ("%d.%d.%d" % sys.version_info[:3], PY)
    assert "platform" in environment and isinstance(environment["packages"], dict)
    found = journal("grep", "-F", "80.22", cwd=repo)
    assert found.returncode == 0 and record["id"].encode() in found.stdout


def test_the_console_tee_loses_nothing_at_os_exit_or_from_a_background_child(repo: Path) -> None:
    """The copier is a process of its own: what the script wrote just before `os._exit`, and
    what a child it started writes after it ended, reach the console and the log; and a reader
    that goes away is passed on (BrokenPipeError), as without journal."""
    import time

    write_script(repo, """\
        import os, subprocess, sys
        import journal
        journal.start(quiet=True)
        print("before exit", flush=True)
        sys.stderr.write("err before exit\\n")
        sys.stderr.flush()
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5); print('child alive')"])
        os._exit(3)
        """)
    done = run_script(repo, "train.py")
    assert done.returncode == 3
    assert done.stdout == b"before exit\nchild alive\n" and done.stderr == b"err before exit\n"
    [log_file] = (repo / ".journal" / "logs").iterdir()
    deadline = time.monotonic() + 10
    while "child alive" not in log_file.read_text():
        assert time.monotonic() < deadline, log_file.read_text()
        time.sleep(0.05)
    assert sorted(log_file.read_text().splitlines()) == ["before exit", "child alive",
                                                         "err before exit"]
    write_script(repo, """\
        import sys
        import journal
        journal.start(quiet=True)
        try:
            for i in range(1000000):
                print("line", i)
        except BrokenPipeError:
            sys.stderr.write(f"broken pipe after {i} lines\\n")
        """)
    piped = subprocess.run(f"{PY} train.py | head -1", shell=True, cwd=repo, capture_output=True,
                           timeout=60)
    assert piped.stdout == b"line 0\n" and b"broken pipe after" in piped.stderr


def test_a_console_copier_that_cannot_start_leaves_the_script_as_it_was(
        repo: Path, tmp_path: Path) -> None:
    """The script's output goes through the copier only once it said it is up: one that dies
    at its start (here a sitecustomize that ends it) leaves stdout alone, no tee, no harm."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import sys\nif any('copy_on' in arg for arg in getattr(sys, 'orig_argv', [])):\n"
        "    raise SystemExit(3)\n")
    write_script(repo, """\
        import journal
        journal.start(quiet=True)
        print("still printing")
        """)
    done = run_script(repo, "train.py", env={**os.environ, "PYTHONPATH": str(site)})
    assert (done.returncode, done.stdout) == (0, b"still printing\n"), done.stderr
