"""Metrics from a run's output: configured patterns, checked at load, applied as output streams."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest
from conftest import journal, only_record, records

from journal.capture.patterns import MAX_LINE, MetricScanner, parse_number
from journal.errors import ConfigError
from journal.store.config import CONFIG_TEMPLATE, load_config

PY = sys.executable
SEED = r"^(?P<name>[A-Za-z][\w ]*?Acc)\s*:\s*(?P<value>[-+]?[0-9.]+)%"
LOSS = r"\bloss=(?P<loss>[-+0-9.eE]+)"


def set_patterns(journal_dir: Path, *patterns: str) -> None:
    journal_dir.mkdir(parents=True, exist_ok=True)
    items = ", ".join(f"'{pattern}'" for pattern in patterns)
    (journal_dir / "config.toml").write_text(f"[metrics]\npatterns = [{items}]\n")


def scan(chunks: list[tuple[int, bytes]], *patterns: str) -> dict[str, int | float]:
    scanner = MetricScanner(patterns or (SEED, LOSS))
    for stream, data in chunks:
        scanner.feed(stream, data)
    scanner.close()
    return scanner.metrics


def test_the_seed_report_block() -> None:
    block = (b"-----Final Report. Running mode: 3 ------\n"
             b"Hoge1 Acc      : 82.476%\n"
             b"Hoge2 Acc      : 71.46%\n"
             b"log file: logs/20180630-000951.log\n")
    assert scan([(0, block)]) == {"Hoge1 Acc": 82.476, "Hoge2 Acc": 71.46}


def test_lines_split_across_reads_and_streams_are_matched_whole() -> None:
    chunks = [(0, b"epoch 1 lo"), (1, b"Hoge1 A"), (0, b"ss=0.5"), (1, b"cc : 1"),
              (0, b"1\nepoch 2 loss=0.2"), (1, b"0.5%\n"), (0, b"5\n")]
    assert scan(chunks) == {"loss": 0.25, "Hoge1 Acc": 10.5}


def test_progress_bars_colours_and_the_last_line_without_newline() -> None:
    chunks = [(0, b"train  10% loss=0.9\rtrain  50% loss=0.5\r"),
              (0, b"\x1b[32mHoge1 Acc\x1b[0m : \x1b[1m80%\x1b[0m\r\n"),
              (0, b"train 100% loss=0.125")]          # no newline: the output just ends
    assert scan(chunks) == {"loss": 0.125, "Hoge1 Acc": 80}


def test_the_last_match_wins_and_non_numbers_are_ignored() -> None:
    text = b"loss=1\nloss=nan-ish\nloss=2e-3\nloss=abc\n"
    assert scan([(0, text)], LOSS) == {"loss": 0.002}


def test_a_line_longer_than_the_cap_keeps_only_its_end() -> None:
    scanner = MetricScanner([LOSS])
    for _ in range(50):
        scanner.feed(0, b"x" * 65536)
    scanner.feed(0, b" loss=3\n")
    assert scanner.metrics == {"loss": 3}
    scanner.feed(1, b"y" * (MAX_LINE * 3))
    assert len(scanner._partial[1]) == MAX_LINE


@pytest.mark.parametrize(("text", "value"), [
    ("82.476%", 82.476), ("12", 12), (" -3e-4 ", -0.0003), ("+.5", 0.5), ("7.", 7.0),
    ("abc", None), ("", None), ("1.2.3", None), ("nan", None), ("1,000", None),
])
def test_parse_number(text: str, value: float | None) -> None:
    assert parse_number(text) == value
    assert type(parse_number(text)) is type(value)


# --- the config ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("pattern", "problem"), [
    ("(?P<name>x", "is not a valid regular expression"),
    ("(?P<name>\\w+)", "has a `name` group but no `value` group"),
    ("acc (?P<value>\\d+)", "has a `value` group but no `name` group"),
    ("acc (\\d+)", "has no named group"),
])
def test_bad_patterns_are_one_config_error(tmp_path: Path, pattern: str, problem: str) -> None:
    set_patterns(tmp_path, pattern)
    with pytest.raises(ConfigError, match="metrics.patterns: .*" + problem):
        load_config(tmp_path)


def test_patterns_must_be_a_list_of_strings(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[metrics]\npatterns = 'acc=(?P<acc>\\d+)'\n")
    with pytest.raises(ConfigError, match="metrics.patterns must be a list of strings"):
        load_config(tmp_path)


def test_a_bad_pattern_stops_journal_new_before_the_command_runs(repo: Path) -> None:
    set_patterns(repo / ".journal", "(?P<name>[a-z+")
    marker = repo / "ran.marker"
    done = journal("new", "--", PY, "-c", f"open({str(marker)!r}, 'w')", cwd=repo)
    assert done.returncode == 2
    lines = done.stderr.decode().splitlines()
    assert lines[0].startswith("journal: error: ")
    assert "is not a valid regular expression" in lines[0]
    assert len(lines) == 2 and lines[1].startswith("hint: ")
    assert b"Traceback" not in done.stderr
    assert not marker.exists() and records(repo / ".journal") == []


def test_init_template_holds_commented_examples_that_work(repo: Path) -> None:
    head, section = CONFIG_TEMPLATE.split("# [metrics]\n")
    assert tomllib.loads(CONFIG_TEMPLATE) == {"capture": {}, "redact": {}, "env": {}, "sync": {}}
    uncommented = ["[metrics]"] + [line[2:] for line in section.splitlines()
                                   if line.startswith(("# patterns", "#     '", "# ]"))]
    (repo / ".journal").mkdir()
    (repo / ".journal" / "config.toml").write_text(head + "\n".join(uncommented) + "\n")
    patterns = load_config(repo / ".journal").metric_patterns
    assert len(patterns) == 3
    out = b"Hoge1 Acc      : 82.476%\nepoch 3 loss=0.3127 val_acc=0.81\n"
    assert scan([(0, out)], *patterns) == {"Hoge1 Acc": 82.476, "loss": 0.3127, "val_acc": 0.81}


# --- on real streamed output --------------------------------------------------------------------

STREAMER = r"""
import sys, time
out = sys.stdout
for pct, loss in ((10, 0.9), (60, 0.4), (100, 0.25)):
    out.write(f"\rtrain {pct:3d}% loss={loss}"); out.flush(); time.sleep(0.05)
out.write("\n-----Final Report------\nHoge1 A"); out.flush(); time.sleep(0.2)   # split mid-line
out.write("cc      : 82.476%\n"); out.flush()
sys.stderr.write("Hoge2 Acc      : 71.46%"); sys.stderr.flush()        # no newline at the end
"""


def test_journal_new_records_metrics_matched_in_streamed_output(repo: Path) -> None:
    set_patterns(repo / ".journal", SEED, LOSS)
    done = journal("new", "-q", "--", PY, "-c", STREAMER, cwd=repo)
    assert done.returncode == 0, done.stderr
    # bytes pass through untouched
    assert done.stdout == (b"\rtrain  10% loss=0.9\rtrain  60% loss=0.4\rtrain 100% loss=0.25"
                           b"\n-----Final Report------\nHoge1 Acc      : 82.476%\n")
    assert done.stderr == b"Hoge2 Acc      : 71.46%"
    record = only_record(repo / ".journal")
    assert record["metrics"] == {"loss": 0.25, "Hoge1 Acc": 82.476, "Hoge2 Acc": 71.46}


def test_explicit_metrics_win_over_the_api_which_wins_over_the_output(repo: Path) -> None:
    set_patterns(repo / ".journal", LOSS, r"\bacc=(?P<acc>[0-9.]+)", r"\bf1=(?P<f1>[0-9.]+)")
    script = ("import journal; print('loss=9 acc=9 f1=0.5', flush=True);"
              "journal.log(loss=2, acc=2)")
    done = journal("new", "-q", "-m", "loss=1", "--", PY, "-c", script, cwd=repo)
    assert done.returncode == 0, done.stderr
    assert only_record(repo / ".journal")["metrics"] == {"f1": 0.5, "acc": 2, "loss": 1}
