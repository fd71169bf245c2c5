"""Help is documentation, and README.md is the manual: both are checked against the commands.

Every command has help with an example, README names every command, and README's synopsis of each
command ("Commands at a glance") lists exactly the options the command has.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main
from readkit import cli

from journal.cli.app import app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
COMMANDS = typer.main.get_command(app).commands      # type: ignore[attr-defined]
OPTION = re.compile(r"(?<![\w-])(--[a-z][\w-]*|-[A-Za-z](?![\w-]))")   # -TAG is a placeholder


def options_of(name: str) -> list[set[str]]:
    """Each option of a command as the set of its spellings (`{"-n", "--limit"}`)."""
    return [set(param.opts + param.secondary_opts) for param in COMMANDS[name].params
            if param.param_type_name == "option" and not param.hidden]


def synopsis() -> dict[str, set[str]]:
    """Command -> the options README's synopsis names for it (FILTERS written out)."""
    block = README.split("### Commands at a glance", 1)[1].split("\n\n`", 1)[0]
    lines = [line.strip() for line in block.splitlines() if line.strip()]
    filters = next(line for line in lines if line.startswith("FILTERS:"))
    named: dict[str, set[str]] = {}
    for line in lines:
        if line.startswith("journal "):
            command = line.split()[1]
            named[command] = set(OPTION.findall(line.replace("[FILTERS]", filters)))
    return named


def test_the_synopsis_is_read() -> None:
    named = synopsis()
    assert named["list"] >= {"-n", "--absolute", "--since", "--where"}
    assert named["note"] == set()


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help_with_an_example(name: str) -> None:
    help_text = COMMANDS[name].help or ""
    summary, _, rest = help_text.partition("\n")
    assert summary.strip() and summary.rstrip().endswith("."), summary
    assert re.search(rf"^Example: journal {name}\b", help_text, re.M), help_text


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_readme_names_every_command(name: str) -> None:
    assert re.search(rf"^ {{4}}journal {name}\b", README, re.M), f"README never shows journal {name}"
    assert name in synopsis(), f"the synopsis has no line for journal {name}"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_readme_lists_exactly_the_options_of_each_command(name: str) -> None:
    named = synopsis()[name]
    options = options_of(name)
    missing = [sorted(spellings) for spellings in options if not spellings & named]
    assert not missing, f"README's synopsis of journal {name} leaves out {missing}"
    known = set().union(*options) if options else set()
    assert named <= known, f"README names options journal {name} does not have: {named - known}"


def test_the_synopsis_names_no_command_that_does_not_exist() -> None:
    assert set(synopsis()) <= set(COMMANDS)


def test_help_lists_whole_summaries_and_says_what_goes_where() -> None:
    result = cli("--help", cwd=Path.cwd(), env={"COLUMNS": "80"})
    assert result.code == 0 and "..." not in result.out.split("\n", 1)[1]    # not the usage line
    assert "--prune removes those of folders that are gone." in " ".join(result.out.split())
    new = cli("new", "--help", cwd=Path.cwd(), env={"COLUMNS": "80"}).out
    assert "-m, --metric NAME=VALUE" in new and "<str>" not in new
    assert "Example: journal new --note \"Adam instead of SGD\" -- python train.py --lr 3e-4" in new
    for name in ("list", "grep", "export", "show"):
        assert "<str>" not in cli(name, "--help", cwd=Path.cwd()).out, name


@pytest.mark.parametrize("topic", ["refs", "ref", "filters", "templates", "config", "environment"])
def test_help_topics(topic: str) -> None:
    result = cli("help", topic, cwd=Path.cwd())
    assert result.code == 0 and result.err == "" and len(result.lines) > 8


def test_help_names_the_topics_and_the_commands() -> None:
    listed = cli("help", cwd=Path.cwd())
    assert listed.code == 0 and "filters" in listed.out and "environment" in listed.out
    assert cli("help", "grep", cwd=Path.cwd()).out == cli("grep", "--help", cwd=Path.cwd()).out
    wrong = cli("help", "nope", cwd=Path.cwd())
    assert wrong.code == 2 and "no help topic 'nope'" in wrong.err
