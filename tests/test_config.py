"""Settings: the user's own `$XDG_CONFIG_HOME/journal/config.toml` under the repository's
`.journal/config.toml`: a setting both give is the repository's, lists are joined (the user's
first), and a mistake in either file is one error line naming that file."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from conftest import journal, make_repo, records

from journal.store.config import DEFAULT_ENV_ALLOW, DEFAULT_LEFT_OUT, Config, load_config


def user_file(text: str) -> Path:
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "journal" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_no_file_is_the_defaults(tmp_path: Path) -> None:
    assert load_config(tmp_path / ".journal") == Config()


def test_the_repository_is_merged_over_the_user(tmp_path: Path) -> None:
    user_file('[capture]\ngit_timeout = 5\nuntracked_max_bytes = 10\nleft_out = ["*.mine"]\n'
              '[env]\nallow = ["MY_GPU"]\n[redact]\nnames = ["cookie"]\n'
              "[metrics]\npatterns = ['acc=(?P<acc>[0-9.]+)']\n[sync]\nremote = \"mine\"\n")
    journal_dir = tmp_path / ".journal"
    journal_dir.mkdir()
    (journal_dir / "config.toml").write_text(
        '[capture]\nuntracked_max_bytes = 20\nleft_out = ["*.theirs", "*.mine"]\n'
        '[env]\nallow = ["SLURM_JOB_ID"]\n'
        "[metrics]\npatterns = ['loss=(?P<loss>[0-9.]+)']\n")
    config = load_config(journal_dir)
    assert config.git_timeout == 5.0 and config.untracked_max_bytes == 20     # the repo's wins
    assert config.sync_remote == "mine"
    assert config.left_out == (*DEFAULT_LEFT_OUT, "*.mine", "*.theirs")
    assert config.env_allow == ("MY_GPU", "SLURM_JOB_ID")                      # joined
    assert config.redact_names == ("cookie",)
    assert config.metric_patterns == ("acc=(?P<acc>[0-9.]+)", "loss=(?P<loss>[0-9.]+)")
    assert load_config(tmp_path / "elsewhere" / ".journal").env_allow == ("MY_GPU",)
    assert Config().env_allow == DEFAULT_ENV_ALLOW


def test_a_users_settings_reach_every_repository(tmp_path: Path) -> None:
    user_file("[env]\nallow = [\"MY_GPU\"]\n[metrics]\npatterns = ['acc=(?P<acc>[0-9.]+)']\n"
              '[redact]\nnames = ["cookie"]\n')
    for name in ("one", "two"):
        repo = make_repo(tmp_path / name, {"train.py": "print('acc=0.91')\n"})
        done = journal("new", "-q", "--", sys.executable, "train.py", "--cookie", "hunter2",
                       cwd=repo, env={**os.environ, "MY_GPU": "3"})
        assert done.returncode == 0, done.stderr
        record = records(repo / ".journal")[0]
        assert record["metrics"] == {"acc": 0.91}
        assert record["env"] == {"MY_GPU": "3"}
        assert "hunter2" not in str(record["command"])


def test_a_mistake_in_the_users_file_names_it(tmp_path: Path) -> None:
    path = user_file("[capture]\ngit_timeout = 'soon'\n")
    repo = make_repo(tmp_path / "repo", {"a.txt": "a\n"})
    done = journal("new", "-n", "x", cwd=repo)
    assert done.returncode != 0 and not (repo / ".journal" / "runs").exists()
    assert done.stderr.decode().splitlines()[0] == (
        f"journal: error: {path}: capture.git_timeout must be a non-negative float")
