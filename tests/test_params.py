"""Parameters from a command line: typed values, argparse-style names, Hydra overrides, --param."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import journal, only_record

from journal.capture.params import params_from_argv, parse_assignment
from journal.errors import UsageError
from journal.record import typed_value

PY = sys.executable


def typed(value: Any) -> tuple[type, Any]:
    """Compare type and value: True == 1 and 1 == 1.0 in Python, not in a record."""
    return type(value), value


@pytest.mark.parametrize(("text", "expected"), [
    ("32", 32), ("0", 0), ("-5", -5), ("+5", 5), ("-0", 0), ("1_000", 1000),
    ("9223372036854775807", 2**63 - 1), ("-9223372036854775808", -(2**63)),
    ("3e-4", 0.0003), ("3E-4", 0.0003), ("1.", 1.0), (".5", 0.5), ("-.5", -0.5), ("+.5", 0.5),
    ("1e5", 100000.0), ("2.5e+3", 2500.0), ("0.1", 0.1), ("-0.0", -0.0), ("1e-310", 1e-310),
    ("true", True), ("false", False), ("True", True), ("False", False), ("TRUE", True),
    ("FALSE", False),
])
def test_typed_values(text: str, expected: Any) -> None:
    assert typed(typed_value(text)) == typed(expected)


@pytest.mark.parametrize("text", [
    "007", "00", "0123",                       # zero-padded ids and seeds keep their digits
    "9223372036854775808", "-9223372036854775809", "99999999999999999999999",   # beyond int64
    "1e999", "-1e999",                         # would be inf: the digits are kept instead
    "1__0", "1_", "_1", "1_000.5",             # not numbers to int(), or not to TOML
    "yes", "no", "on", "off", "tRUE", "null", "None", "nan", "inf", "-inf", "NaN",
    "", " ", " 5", "5 ", "0x10", "0b1", "1.5.2", "1e", "e5", ".", "-", "+", "--",
    "\u0661\u0662\u0663", "\uff11\uff12",        # Arabic-Indic and full-width digits: int() takes them
    "3e-4x", "adam", "a=b",
])
def test_values_that_stay_text(text: str) -> None:
    assert typed(typed_value(text)) == (str, text)


def test_argparse_styles() -> None:
    argv = ["--lr", "3e-4", "--batch-size=32", "--fp16", "--name", "run 1", "--opt=a=b",
            "--empty=", "--model.depth", "12"]
    assert params_from_argv(argv) == {"lr": 0.0003, "batch_size": 32, "fp16": True,
                                      "name": "run 1", "opt": "a=b", "empty": "", "model.depth": 12}
    assert typed(params_from_argv(["--fp16"])["fp16"]) == (bool, True)


def test_flag_followed_by_another_option_is_true() -> None:
    assert params_from_argv(["--fp16", "--lr", "1", "--resume", "--verbose", "-v", "--last"]) == {
        "fp16": True, "lr": 1, "resume": True, "verbose": True, "last": True}


def test_negative_numbers_are_values_not_options() -> None:
    assert params_from_argv(["--lr", "-3e-4", "--shift", "-2", "--x", "-.5", "--y", "-1.",
                             "--z", "-0"]) == {"lr": -0.0003, "shift": -2, "x": -0.5, "y": -1.0, "z": 0}
    assert params_from_argv(["--flag", "-x5"]) == {"flag": True}


def test_hydra_overrides() -> None:
    argv = ["model.lr=0.1", "+trainer.max_epochs=10", "++seed=3", "~callbacks.early_stop",
            "~callbacks.ckpt=x", "optimizer=adam", "db=null", "data/path=x.csv", "hidden-size=256"]
    assert params_from_argv(argv) == {"model.lr": 0.1, "trainer.max_epochs": 10, "seed": 3,
                                      "optimizer": "adam", "db": "null", "data/path": "x.csv",
                                      "hidden_size": 256}


def test_dashes_become_underscores_and_the_last_value_wins() -> None:
    assert params_from_argv(["--batch-size", "32", "--batch_size", "64"]) == {"batch_size": 64}
    assert params_from_argv(["--lr", "1", "--lr=2", "lr=3"]) == {"lr": 3}
    assert params_from_argv(["lr=3", "--lr", "0.5"]) == {"lr": 0.5}


def test_positional_arguments_and_odd_names_are_ignored() -> None:
    argv = ["train.py", "data/", "-v", "-n", "4", "-lr=3", "--=3", "---x", "5", "--1st", "2",
            "x y=1", "https://h/?a=b", "=5", "1=2", "--", "--lr", "1", "out.txt"]
    assert params_from_argv(argv) == {"lr": 1}


def test_double_dash_is_skipped_and_parsing_goes_on() -> None:
    # `journal new -- uv run -- python train.py --lr 3` : the parameters come after a `--`
    assert params_from_argv(["run", "--", "python", "train.py", "--lr", "3"]) == {"lr": 3}
    assert params_from_argv(["--flag", "--", "pos"]) == {"flag": True}
    assert params_from_argv(["--"]) == {}
    assert params_from_argv([]) == {}


def test_a_flag_before_a_positional_takes_it_as_value() -> None:
    # No spec to tell them apart: the guess is argparse's for an option with a value.
    assert params_from_argv(["--fp16", "data/"]) == {"fp16": "data/"}


def test_huge_ints_stay_strings_so_the_record_can_be_written() -> None:
    assert params_from_argv(["--seed", "99999999999999999999", "--n=-9223372036854775809"]) == {
        "seed": "99999999999999999999", "n": "-9223372036854775809"}


def test_same_values_as_argparse_for_a_typical_training_script() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--weight-decay", type=float)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--fp16", action="store_true")
    parser.add_argument("--optimizer")
    parser.add_argument("--shift", type=int)
    argv = ["--lr", "3e-4", "--batch-size=32", "--weight-decay", ".01", "--epochs", "1_0",
            "--fp16", "--optimizer", "adamw", "--shift", "-3"]
    expected = vars(parser.parse_args(argv))
    assert params_from_argv(argv) == expected
    assert [typed(v) for v in params_from_argv(argv).values()] == [typed(v) for v in expected.values()]


# --- --param / --metric --------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "option", "expected"), [
    ("lr=3e-4", "--param", ("lr", 0.0003)),
    (" lr = 1 ", "--param", ("lr", 1)),
    ("a=b=c", "--param", ("a", "b=c")),
    ("note=", "--param", ("note", "")),
    ("batch-size=64", "--param", ("batch_size", 64)),     # the name `--batch-size` gets in argv
    ("val-acc=0.9", "--metric", ("val-acc", 0.9)),        # metric names are the user's own
    ("acc=82.476", "--metric", ("acc", 82.476)),
    ("ok=true", "--metric", ("ok", True)),
    ("big=99999999999999999999", "--metric", ("big", "99999999999999999999")),
])
def test_parse_assignment(text: str, option: str, expected: tuple[str, Any]) -> None:
    name, value = parse_assignment(text, option)
    assert (name, typed(value)) == (expected[0], typed(expected[1]))


@pytest.mark.parametrize("text", ["nonsense", "", "=3", " =3", "   "])
def test_parse_assignment_without_a_name_or_equals_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_assignment(text, "--param")
    assert caught.value.message == f"--param expects NAME=VALUE, got {text!r}"
    assert caught.value.exit_code == 2


# --- end to end ----------------------------------------------------------------------------------

def test_explicit_params_win_over_argv_and_metrics_are_typed(repo: Path) -> None:
    done = journal("new", "-p", "lr=3e-4", "-m", "acc=82.476", "--",
                   PY, "-c", "pass", "--lr", "1", "--batch-size", "32", "--fp16", cwd=repo)
    assert done.returncode == 0, done.stderr
    record = only_record(repo / ".journal")
    assert record["params"] == {"lr": 0.0003, "batch_size": 32, "fp16": True}
    assert [typed(v) for v in record["params"].values()] == [
        (float, 0.0003), (int, 32), (bool, True)]
    assert typed(record["metrics"]["acc"]) == (float, 82.476)
    assert record["metrics"] == {"acc": 82.476}
    assert record["command"] == [PY, "-c", "pass", "--lr", "1", "--batch-size", "32", "--fp16"]


def test_explicit_dashed_param_replaces_the_parsed_one(repo: Path) -> None:
    done = journal("new", "-p", "batch-size=64", "--", PY, "-c", "pass", "--batch-size", "32",
                   cwd=repo)
    assert done.returncode == 0, done.stderr
    assert only_record(repo / ".journal")["params"] == {"batch_size": 64}


def test_params_and_metrics_on_a_note_only_record(repo: Path) -> None:
    done = journal("new", "-n", "by hand", "-p", "seed=007", "-p", "opt=adam", "-m", "loss=-0.5",
                   cwd=repo)
    assert done.returncode == 0, done.stderr
    record = only_record(repo / ".journal")
    assert (record["params"], record["metrics"]) == ({"seed": "007", "opt": "adam"}, {"loss": -0.5})


@pytest.mark.parametrize(("args", "option"), [
    (["-p", "nonsense"], "--param"), (["--param", "=1"], "--param"), (["-m", "acc"], "--metric"),
])
def test_bad_assignment_is_one_line_exit_2_and_no_record(repo: Path, args: list[str], option: str) -> None:
    done = journal("new", *args, "--", PY, "-c", "open('ran', 'w')", cwd=repo)
    assert done.returncode == 2
    assert done.stdout == b""
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("journal: error: "), done.stderr
    assert lines[0] == f"journal: error: {option} expects NAME=VALUE, got {args[1]!r}"
    assert b"Traceback" not in done.stderr
    assert not list((repo / ".journal").glob("runs/**/*.toml"))
    assert not (repo / "ran").exists()
