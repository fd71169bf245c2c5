"""The Python start-up hook: what a Python command really ran with (every parsed argument with
its default, the packages it imported), and that the program cannot tell it is there.

Real programs run under `journal new`: argparse scripts, a click command, a Hydra app, a
launcher with ranks; the same programs run without journal give the baseline output.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import journal, only_record, records

from journal.capture.hook import HOOK_FOLDER, may_run_python

PY = sys.executable

ARGPARSE = """\
    import argparse, sys

    class Parser(argparse.ArgumentParser):          # a subclass, as HfArgumentParser is
        pass

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--seed", type=int, default=0)
    parser = Parser(parents=[common])
    parser.add_argument("data", nargs="?", default="cifar10")
    parser.add_argument("--lr", type=float, default="0.1")      # a string default, typed
    parser.add_argument("--mode", type=int, default=1)
    parser.add_argument("--resume", default=None)
    parser.add_argument("--no-cuda", dest="cuda", action="store_false")
    parser.add_argument("--layers", type=int, nargs="+", default=[64, 64])
    parser.add_argument("--api-key", default="sk-live0123456789abcdefghijkl")
    parser.add_argument("--hidden", default=argparse.SUPPRESS)
    parser.set_defaults(schedule="cosine")
    for index in range(20):
        parser.add_argument(f"--opt{index}", type=float, default=index / 10)
    commands = parser.add_subparsers(dest="command")
    train = commands.add_parser("train")
    train.add_argument("--epochs", type=int, default=3)
    train.set_defaults(handler=print)
    args, rest = parser.parse_known_args()
    extra = argparse.ArgumentParser()
    extra.add_argument("--extra", type=int, default=5)
    more = extra.parse_args(rest)
    print("lr", args.lr, "mode", args.mode, "extra", more.extra)
    print("to stderr", file=sys.stderr)
"""


def write(repo: Path, name: str, text: str) -> Path:
    path = repo / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def plain(repo: Path, *argv: str, env: dict[str, str] | None = None
          ) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(list(argv), cwd=repo, capture_output=True, timeout=60,
                          env={**os.environ, **(env or {})})


# -- every argument, defaults included -------------------------------------------------------------


def test_an_argparse_script_gives_every_argument_with_its_default(repo: Path) -> None:
    write(repo, "train.py", ARGPARSE)
    done = journal("new", "-q", "--", PY, "train.py", "--mode", "3", "train", "--epochs", "5",
                   "--extra", "7", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"lr 0.1 mode 3 extra 7\n"
    record = only_record(repo / ".journal")
    params = record["params"]
    expected = {"seed": 0, "data": "cifar10", "lr": 0.1, "mode": 3, "resume": {}, "cuda": True,
                "layers": [64, 64], "api_key": "***", "schedule": "cosine", "command": "train",
                "epochs": 5, "handler": "builtins.print", "extra": 7,
                **{f"opt{index}": index / 10 for index in range(20)}}
    assert params == expected                      # SUPPRESS: `hidden` is not there, as in args
    assert record["params_from"] == "argparse"
    # What the program left at its default (the string "0.1" typed as 0.1 counts as the default).
    defaults = set(record["params_default"])
    assert {"seed", "data", "lr", "resume", "cuda", "layers", "opt0", "opt19"} <= defaults
    assert not {"mode", "epochs", "extra"} & defaults
    assert record["environment"]["python"] == "%d.%d.%d" % sys.version_info[:3]
    assert record["environment"]["executable"] == PY


def test_a_click_command_gives_its_params(repo: Path) -> None:
    write(repo, "cli.py", """\
        import click

        @click.group()
        @click.option("--verbose/--quiet", default=False)
        def main(verbose):
            pass

        @main.command()
        @click.option("--lr", default=0.1, type=float)
        @click.option("--name", default=None)
        @click.argument("path", default="data")
        def train(lr, name, path):
            print("training", lr, path)

        main()
        """)
    done = journal("new", "-q", "--", PY, "cli.py", "train", "--lr", "0.5", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"training 0.5 data\n"
    record = only_record(repo / ".journal")
    assert record["params"] == {"verbose": False, "lr": 0.5, "name": {}, "path": "data"}
    assert record["params_from"] == "click"
    assert sorted(record["params_default"]) == ["name", "path", "verbose"]
    assert "click" in record["environment"]["packages"]


def test_a_hydra_app_gives_its_composed_config_not_hydras_options(repo: Path) -> None:
    pytest.importorskip("hydra")
    write(repo, "conf/config.yaml", """\
        defaults:
          - model: small
          - _self_
        lr: 0.1
        seed: null
        out: ${hydra:runtime.cwd}/out
        """)
    write(repo, "conf/model/small.yaml", "hidden: 128\nlayers: 2\n")
    write(repo, "app.py", """\
        import hydra

        @hydra.main(version_base=None, config_path="conf", config_name="config")
        def main(cfg):
            print(cfg.lr, cfg.model.layers)

        main()
        """)
    done = journal("new", "-q", "--", PY, "app.py", "lr=0.5", "model.layers=4", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"0.5 4\n"
    record = only_record(repo / ".journal")
    assert record["params"] == {"lr": 0.5, "seed": {}, "out": f"{repo}/out",
                                "model": {"hidden": 128, "layers": 4}}
    assert record["params_from"] == "hydra"
    assert {"hydra-core", "omegaconf"} <= set(record["environment"]["packages"])
    shown = json.loads(journal("show", "@", "--format", "json", cwd=repo).stdout)
    assert shown["params"]["model"]["layers"] == 4 and shown["params"]["seed"] is None
    assert journal("list", "--where", "model.layers=4", "-n", "0", cwd=repo).stdout.count(b"\n") == 1


def test_diff_shows_a_default_changed_in_the_code(repo: Path) -> None:
    """The same command line twice; the second time the code's default lr differs: the runs'
    params say so, where the command line alone could not."""
    write(repo, "train.py", ARGPARSE)
    assert journal("new", "-q", "--", PY, "train.py", cwd=repo).returncode == 0
    write(repo, "train.py", ARGPARSE.replace('default="0.1"', 'default="0.05"'))
    assert journal("new", "-q", "--", PY, "train.py", cwd=repo).returncode == 0
    diff = journal("diff", "@~1", "@", cwd=repo)
    assert diff.returncode == 0, diff.stderr
    assert [line.split() for line in diff.stdout.decode().splitlines()
            if line.split()[:1] == ["lr"]] == [["lr", "0.1", "→", "0.05", "(-0.05)"]]


def test_under_a_launcher_the_workers_rank_zero_reports_not_the_launcher(repo: Path) -> None:
    """`python -m torch.distributed.run --nproc_per_node 2 train.py --lr 1` (a stand-in torch
    here): the launcher's own options are not the program's, each worker parses, rank 0's
    arguments are recorded once; the CUDA devices the program initialised are named."""
    write(repo, "fake/torch/__init__.py", """\
        class cuda:
            @staticmethod
            def is_initialized():
                return True
            @staticmethod
            def device_count():
                return 2
            @staticmethod
            def get_device_name(index):
                return f"Fake GPU {index} 80GB"
        """)
    write(repo, "fake/torch/distributed/__init__.py", "")
    write(repo, "fake/torch/distributed/run.py", """\
        import argparse, os, subprocess, sys
        parser = argparse.ArgumentParser()
        parser.add_argument("--nproc_per_node", type=int, default=1)
        parser.add_argument("script")
        parser.add_argument("rest", nargs=argparse.REMAINDER)
        args = parser.parse_args()
        workers = [subprocess.Popen([sys.executable, args.script, *args.rest],
                                    env={**os.environ, "RANK": str(rank)})
                   for rank in range(args.nproc_per_node)]
        sys.exit(max(worker.wait() for worker in workers))
        """)
    write(repo, "train.py", """\
        import argparse, os, torch
        parser = argparse.ArgumentParser()
        parser.add_argument("--lr", type=float, default=0.1)
        parser.add_argument("--rank-seen", default=os.environ["RANK"])
        parser.parse_args()
        """)
    env = {**os.environ, "PYTHONPATH": str(repo / "fake")}
    done = journal("new", "-q", "--", PY, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                   "train.py", "--lr", "1", cwd=repo, env=env)
    assert done.returncode == 0, done.stderr
    record = only_record(repo / ".journal")
    assert record["params"] == {"lr": 1.0, "rank_seen": "0"}
    assert record["environment"]["gpus"] == ["Fake GPU 0 80GB", "Fake GPU 1 80GB"]


# -- the hook is invisible --------------------------------------------------------------------------


PROBE = """\
    import argparse, json, os, sys
    parser = argparse.ArgumentParser()
    parser.add_argument("--fail", default="")
    args = parser.parse_args()
    print(json.dumps({"path": [p for p in sys.path if "pyhook" not in p],
                      "modules": sorted(set(sys.modules) - {"sitecustomize", "_journal_hook",
                                                            "atexit"})}))
    print("err", file=sys.stderr)
    if args.fail == "raise":
        raise ValueError("bad shape")
    if args.fail == "exit":
        sys.exit(7)
"""


@pytest.mark.parametrize("fail", ["", "raise", "exit"])
def test_the_program_sees_no_difference(repo: Path, fail: str) -> None:
    """Same stdout (sys.path and the modules loaded, but for the hook's own), same stderr (a
    traceback included), same exit code, with the hook and without journal."""
    write(repo, "probe.py", PROBE)
    alone = plain(repo, PY, "probe.py", "--fail", fail)
    done = journal("new", "-q", "--", PY, "probe.py", "--fail", fail, cwd=repo)
    assert (done.returncode, done.stdout, done.stderr) == \
        (alone.returncode, alone.stdout, alone.stderr)
    assert only_record(repo / ".journal")["params"] == {"fail": fail}


def test_ctrl_c_death_stays_a_death_by_sigint(repo: Path) -> None:
    """A script killed by Ctrl-C dies of SIGINT (128+2), not exit 1: the hook's work at exit
    must not run `eval` (CPython then forgets the KeyboardInterrupt)."""
    script = "import time; print('up', flush=True); time.sleep(30)"
    env = {**os.environ, "PYTHONPATH": str(HOOK_FOLDER), "JOURNAL_HOOK": str(repo / "nowhere")}
    child = subprocess.Popen([PY, "-c", script], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
    assert child.stdout is not None and child.stdout.readline() == b"up\n"
    child.send_signal(signal.SIGINT)
    assert child.wait(timeout=20) == -signal.SIGINT


def test_a_users_own_sitecustomize_still_runs(repo: Path, tmp_path: Path) -> None:
    mine = tmp_path / "site"
    write(mine, "sitecustomize.py", "import builtins\nbuiltins.MINE = 'loaded'\n")
    write(repo, "train.py", "import argparse\nargparse.ArgumentParser().parse_args()\n"
                            "print(MINE)\n")
    env = {**os.environ, "PYTHONPATH": str(mine)}
    done = journal("new", "-q", "--", PY, "train.py", cwd=repo, env=env)
    assert (done.returncode, done.stdout) == (0, b"loaded\n"), done.stderr
    assert only_record(repo / ".journal")["params_from"] == "argparse"


@pytest.mark.parametrize("version", ["2.7", "3.6", "3.7", "3.8", "3.13"])
def test_another_python_runs_unchanged(repo: Path, version: str) -> None:
    """A python2.7 or 3.6 on the PATH reads the hook's sitecustomize too: it must parse there
    and do nothing; 3.8 and newer report their arguments."""
    candidates = [*Path("/root/.pyenv/versions").glob(f"{version}.*/bin/python"),
                  shutil.which(f"python{version}")]
    python = next((str(path) for path in candidates
                   if path and plain(repo, str(path), "-c", "pass").returncode == 0), None)
    if python is None:
        pytest.skip(f"no python{version} here")
    script = "import argparse, sys\np = argparse.ArgumentParser()\np.add_argument('--lr', default='0.1')\n" \
             "print(p.parse_args().lr)\nsys.stderr.write('done\\n')\n"
    write(repo, "old.py", script)
    alone = plain(repo, str(python), "old.py", "--lr", "3")
    done = journal("new", "-q", "--", str(python), "old.py", "--lr", "3", cwd=repo)
    assert (done.returncode, done.stdout, done.stderr) == \
        (alone.returncode, alone.stdout, alone.stderr) == (0, b"3\n", b"done\n")
    record = only_record(repo / ".journal")
    reported = tuple(map(int, version.split("."))) >= (3, 8)
    assert record.get("params_from") == ("argparse" if reported else None)
    assert record["params"] == {"lr": "3"} if reported else {"lr": 3}   # argparse's text, or a guess


def test_isolated_mode_and_the_setting_turn_it_off(repo: Path) -> None:
    write(repo, "train.py", ARGPARSE)
    assert journal("new", "-q", "--", PY, "-I", "train.py", "--mode", "3", cwd=repo).returncode == 0
    (repo / ".journal" / "config.toml").write_text("[capture]\npython_hook = false\n")
    assert journal("new", "-q", "--", PY, "train.py", "--mode", "3", cwd=repo).returncode == 0
    for record in records(repo / ".journal"):
        assert record["params"] == {"mode": 3}              # the command line's guess only
        assert "params_from" not in record and "python" not in record["environment"]


def test_no_secret_the_program_parsed_reaches_the_disk(repo: Path) -> None:
    """A default in the code (`--api-key` defaults to a live key) is masked in the record, and
    is nowhere in .journal/: the hook sends to the wrapper, which masks before writing."""
    write(repo, "train.py", ARGPARSE)
    assert journal("new", "-q", "--", PY, "train.py", cwd=repo).returncode == 0
    for path in (repo / ".journal").rglob("*"):
        if path.is_file() and path.suffix != ".patch":      # the patch holds the code itself
            assert b"sk-live0123456789" not in path.read_bytes(), path


def test_which_commands_are_python(tmp_path: Path) -> None:
    script = tmp_path / "tool"
    script.write_text("#!/usr/bin/env python3\nprint(1)\n")
    script.chmod(0o755)
    shell = tmp_path / "run"
    shell.write_text("#!/bin/sh\necho 1\n")
    shell.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin"}
    assert may_run_python(["python3", "x.py"], env)
    assert may_run_python(["/usr/bin/python3.11", "-m", "pkg"], env)
    assert may_run_python(["tool", "--lr", "1"], env)                # a Python shebang
    assert may_run_python(["uv", "run", "train.py"], env)
    assert may_run_python(["env", "X=1", "python", "-c", "pass"], env)
    assert may_run_python(["run", "--lr", "1"], env)                      # a shell script
    assert may_run_python(["bash", "train.sh"], env)
    assert not may_run_python(["make", "train"], env)
    assert not may_run_python(["no-such-program"], env)
    binary = tmp_path / "trainer"
    binary.write_bytes(b"\x7fELF\x02\x01\x01")
    binary.chmod(0o755)
    assert not may_run_python(["trainer", "--lr", "1"], env)


def test_the_programs_own_parse_wins(repo: Path) -> None:
    """A helper it started that parsed first, and a library's parse of a list of its own
    (`parse_known_args([])`), do not replace what the program parsed from its command line."""
    write(repo, "train.py", """\
        import argparse, subprocess, sys
        if "--helper" not in sys.argv:
            subprocess.run([sys.executable, "train.py", "--helper", "--query", "mem"])
        parser = argparse.ArgumentParser()
        parser.add_argument("--lr", type=float, default=0.1)
        parser.add_argument("--helper", action="store_true")
        parser.add_argument("--query")
        parser.parse_args()
        library = argparse.ArgumentParser()
        library.add_argument("--lr", default="the library's")
        library.add_argument("--workers", type=int, default=4)
        library.parse_known_args([])
        """)
    assert journal("new", "-q", "--", PY, "train.py", "--lr", "0.3", cwd=repo).returncode == 0
    record = only_record(repo / ".journal")
    assert record["params"] == {"lr": 0.3, "helper": False, "query": {}, "workers": 4}
    assert sorted(record["params_default"]) == ["helper", "query", "workers"]
    assert journal("list", "--where", "query=None", "-n", "0", cwd=repo).stdout.count(b"\n") == 1
    assert journal("list", "--where", "lr=None", "-n", "0", cwd=repo).stdout == b""


def test_typer_and_a_click_subcommands_own_options(repo: Path) -> None:
    """typer (whichever click it uses, its own bundled copy too), and a click group and its
    command that both have `--seed`: each value kept, the command's as `train.seed`."""
    pytest.importorskip("typer")
    write(repo, "ty.py", """\
        import typer
        app = typer.Typer()

        @app.command()
        def train(data: str, lr: float = 1e-3, layers: int = 4, amp: bool = False):
            print(lr)

        app()
        """)
    assert journal("new", "-q", "--", PY, "ty.py", "d", "--lr", "0.1", "--amp",
                   cwd=repo).returncode == 0
    typer_run = records(repo / ".journal")[-1]
    assert typer_run["params"] == {"data": "d", "lr": 0.1, "layers": 4, "amp": True}
    assert typer_run["params_from"] in ("typer", "click") and typer_run["params_default"] == ["layers"]
    write(repo, "cl.py", """\
        import click

        @click.group()
        @click.option("--seed", default=0)
        def cli(seed):
            pass

        @cli.command()
        @click.option("--seed", default=42)
        def train(seed):
            print(seed)

        cli()
        """)
    assert journal("new", "-q", "--", PY, "cl.py", "--seed", "7", "train", cwd=repo).returncode == 0
    click_run = [r for r in records(repo / ".journal") if r["command"][1] == "cl.py"][0]
    assert click_run["params"] == {"seed": 7, "train.seed": 42}
    assert click_run["params_default"] == ["train.seed"]


def test_a_shell_script_that_runs_python_gets_the_hook(repo: Path) -> None:
    write(repo, "train.py", ARGPARSE)
    write(repo, "train.sh", f"set -e\necho preparing\n{PY} train.py --mode 4 \"$@\"\n")
    done = journal("new", "-q", "--", "bash", "train.sh", "--seed", "3", cwd=repo)
    assert done.returncode == 0, done.stderr
    record = only_record(repo / ".journal")
    assert record["params_from"] == "argparse"
    assert (record["params"]["mode"], record["params"]["seed"], record["params"]["lr"]) == (4, 3, 0.1)


def test_a_float_subclass_reports_as_a_float() -> None:
    """numpy's float64 is a float whose repr is `np.float64(0.1)`: not JSON."""
    from journal.capture.pyhook._journal_hook import _json

    class Float64(float):
        def __repr__(self) -> str:
            return f"np.float64({float(self)})"

    assert json.loads(_json({"lr": Float64(0.25), "n": 3})) == {"lr": 0.25, "n": 3}
