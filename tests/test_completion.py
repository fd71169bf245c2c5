"""Shell completion through the real bash: commands, options, choices and REFs, from the script
`journal --show-completion bash` prints and the one `--install-completion` installs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from readkit import write_run

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="no bash here")


@pytest.fixture
def shell_env(tmp_path: Path) -> dict[str, str]:
    """A PATH whose `journal` runs the working tree's code, as an installed one would."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    launcher = bin_dir / "journal"
    launcher.write_text(f'#!/bin/sh\nexec {sys.executable} -m journal "$@"\n')
    launcher.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def completions(words: list[str], cwd: Path, env: dict[str, str], script: str) -> list[str]:
    """What bash offers for the last word of `words`, through the completion function."""
    quoted = " ".join(f"'{word}'" for word in words)
    program = (f"{script}\nCOMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}\n"
               '_journal_completion journal; printf "%s\\n" "${COMPREPLY[@]}"\n')
    done = subprocess.run(["bash", "--norc", "--noprofile", "-c", program], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if line]


def test_bash_completes_commands_options_choices_and_refs(tmp_path: Path,
                                                          shell_env: dict[str, str]) -> None:
    journal_dir = tmp_path / ".journal"
    older = write_run(journal_dir, note="older")
    newer = write_run(journal_dir, note="newer", run_id=older[:-6] + "zzzzz9")
    script = subprocess.run(["journal", "--show-completion", "bash"], env=shell_env,
                            capture_output=True, text=True, check=True, timeout=60).stdout
    assert "_JOURNAL_COMPLETE=complete_bash" in script

    def offered(*words: str) -> list[str]:
        return completions(["journal", *words], tmp_path, shell_env, script)

    assert {"new", "list", "grep", "show", "rm", "help"} <= set(offered(""))
    assert offered("gr") == ["grep"]
    assert {"--word-regexp", "--invert-match", "--count", "--where"} <= set(offered("grep", "--"))
    assert offered("export", "-f", "") == ["md", "html", "json", "csv", "enex"]
    assert offered("list", "--color", "a") == ["auto", "always"]
    assert offered("list", "--status", "f") == ["finished", "failed"]
    assert offered("show", "") == [newer, older, "@", "@~1", "latest", "-"]
    assert offered("diff", older[:20]) == [newer, older]
    assert offered("help", "f") == ["filters"] and offered("help", "l") == ["list"]
    assert offered("list", "--status", "n") == ["note"]
    assert subprocess.run(["journal", "rm", older], cwd=tmp_path, env=shell_env,
                          capture_output=True, timeout=60).returncode == 0
    assert offered("rm", "--restore", "") == [older]          # the trash's, not the journal's


def test_install_completion_writes_a_script_bash_sources(tmp_path: Path,
                                                         shell_env: dict[str, str]) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {**shell_env, "HOME": str(home)}
    done = subprocess.run(["journal", "--install-completion", "bash"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    bashrc = (home / ".bashrc").read_text()
    sourced = subprocess.run(["bash", "--norc", "--noprofile", "-c",
                              f"source {home / '.bashrc'}; complete -p journal"],
                             env=env, capture_output=True, text=True, timeout=60)
    assert "journal" in bashrc and "_journal_completion" in sourced.stdout, sourced.stderr
