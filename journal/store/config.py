"""Settings from `.journal/config.toml` and the user's own `$XDG_CONFIG_HOME/journal/config.toml`,
with defaults for everything (both files are optional).

The user's file holds what belongs to a person (the environment allow-list, redaction names,
metric patterns) once for every repository. The repository's file is merged over it: a setting
both give takes the repository's value; lists are the union, the user's first.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from journal.errors import ConfigError
from journal.store.files import read_regular

MAX_CONFIG_BYTES = 1 << 20

# Untracked files that usually hold credentials: named in the record, never put in the patch.
DEFAULT_LEFT_OUT = (
    ".env*", "*.env", "*.pem", "*.key", "*.p12", "*.pfx", "id_rsa*", "id_dsa*",
    "id_ecdsa*", "id_ed25519*", "credentials*", "*.kdbx", ".netrc", ".pgpass", ".npmrc", ".pypirc",
    "*.keystore", "secrets.*", ".git-credentials",
    "*.tfvars", "*.tfvars.json", "*.tfstate", "*.tfstate.backup",       # Terraform
    "*.docker/config.json",                                             # docker login
    "kubeconfig*", "*.kubeconfig", "*.kube/config",                     # Kubernetes
)

# Environment variables worth keeping with a run (values are still redacted by shape).
DEFAULT_ENV_ALLOW = (
    "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
    "PYTHONHASHSEED", "CONDA_DEFAULT_ENV", "VIRTUAL_ENV", "SLURM_JOB_ID", "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_JOB_ID", "SLURM_JOB_NAME", "SLURM_NODELIST", "PBS_JOBID", "PBS_ARRAYID",
    "LSB_JOBID", "LSB_JOBINDEX", "JOB_ID", "SGE_TASK_ID", "FLUX_JOB_ID", "COBALT_JOBID",
    "WORLD_SIZE", "RANK", "LOCAL_RANK",
)

CONFIG_TEMPLATE = """\
# journal settings. Every key is optional; the values shown are the defaults.
# Your own settings for every repository go in ~/.config/journal/config.toml ($XDG_CONFIG_HOME),
# with the same tables: this file is merged over it (a setting both give is this file's; lists,
# such as env.allow, redact.names and metrics.patterns, are joined).

[capture]
# Untracked text files up to this size go into the run's patch; bigger ones are only named.
# untracked_max_bytes = 1048576
# Seconds each git call may take before the capture is marked partial (the run still starts).
# git_timeout = 10.0
# Extra glob patterns for untracked files whose contents never go into a patch
# (added to .env*, *.pem, *.key, id_rsa*, credentials*, *.kdbx, .netrc, ...).
# left_out = ["*.secret"]
# A Python command gets a start-up hook that records every argument it parsed (defaults
# included) and the packages it imported; false turns it off.
# python_hook = true

[redact]
# Extra words that mark an argument or key=value name as a credential
# (added to key, token, secret, password, passwd, credential, auth, ...).
# names = ["cookie"]
# Extra regular expressions for secret values, replaced by *** wherever they appear.
# values = ["mycorp_[0-9a-f]{32}"]

[env]
# Environment variables recorded with each run (an allow-list: nothing else is recorded).
# allow = ["CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID", "OMP_NUM_THREADS"]

# [metrics]
# Regular expressions that `journal new -- CMD` applies to the command's output as it streams,
# line by line (each \\r progress-bar update counts as a line); the last match of each metric is
# recorded in the run's [metrics]. Write them as '...' (TOML literal strings: no escaping).
# With groups `name` and `value`, the metric is named by what `name` matched; any other named
# group is a metric of that name. A value may end with %; what is not a number is ignored.
# patterns = [
#     # "Hoge1 Acc      : 82.476%"  ->  "Hoge1 Acc" = 82.476
#     '^(?P<name>[A-Za-z][\\w ]*?Acc)\\s*:\\s*(?P<value>[-+]?[0-9.]+)%',
#     # "epoch 3 loss=0.3127 val_acc=0.81"  ->  loss = 0.3127, val_acc = 0.81
#     '\\bloss=(?P<loss>[-+0-9.eE]+)',
#     '\\bval_acc=(?P<val_acc>[-+0-9.eE]+)',
# ]

[sync]
# `journal sync` with no REMOTE uses this remote (else the current branch's, else origin).
# remote = "origin"
# Logs, patches and per-step metrics bigger than this stay on the machine that has them (a
# marker travels instead, saying where); records always travel.
# max_file_bytes = 25000000
"""


@dataclass(frozen=True)
class Config:
    untracked_max_bytes: int = 1024 * 1024
    git_timeout: float = 10.0
    left_out: tuple[str, ...] = DEFAULT_LEFT_OUT
    redact_names: tuple[str, ...] = ()
    redact_values: tuple[str, ...] = ()
    env_allow: tuple[str, ...] = DEFAULT_ENV_ALLOW
    metric_patterns: tuple[str, ...] = ()
    python_hook: bool = True
    sync_remote: str | None = None
    sync_max_bytes: int = 25_000_000
    source: Path | None = field(default=None, compare=False)


_SCHEMA: dict[str, dict[str, tuple[str, type]]] = {
    # table -> key -> (Config field, expected type)
    "capture": {
        "untracked_max_bytes": ("untracked_max_bytes", int),
        "git_timeout": ("git_timeout", float),
        "left_out": ("left_out", list),
        "python_hook": ("python_hook", bool),
    },
    "redact": {"names": ("redact_names", list), "values": ("redact_values", list)},
    "env": {"allow": ("env_allow", list)},
    "metrics": {"patterns": ("metric_patterns", list)},
    "sync": {"remote": ("sync_remote", str), "max_file_bytes": ("sync_max_bytes", int)},
}


# Settings that add up when both files give them; the others are the repository's if it says.
_LISTS = ("left_out", "redact_names", "redact_values", "env_allow", "metric_patterns")


def user_config_path(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "journal" / "config.toml"


def load_config(journal_dir: Path, environ: Mapping[str, str] | None = None) -> Config:
    """The repository's settings merged over the user's, over the defaults."""
    user_path = user_config_path(os.environ if environ is None else environ)
    repo_path = journal_dir / "config.toml"
    user, repo = _file_settings(user_path), _file_settings(repo_path)
    if user is None and repo is None:
        return Config()
    settings = {**(user or {}), **(repo or {})}
    for name in _LISTS:
        given = [*(user or {}).get(name, ()), *(repo or {}).get(name, ())]
        if given:
            settings[name] = tuple(dict.fromkeys(given))
    if "left_out" in settings:
        settings["left_out"] = tuple(dict.fromkeys(DEFAULT_LEFT_OUT + settings["left_out"]))
    if "redact_values" in settings:
        _check_together(settings["redact_values"], repo_path if repo is not None else user_path)
    return Config(source=repo_path if repo is not None else user_path, **settings)


def _file_settings(path: Path) -> dict[str, Any] | None:
    """What one file sets (checked), or None when there is no such file."""
    try:
        data = tomllib.loads(read_regular(path, MAX_CONFIG_BYTES).decode("utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text: {exc.reason}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    except RecursionError:
        raise ConfigError(f"{path} is not valid TOML: nested too deeply") from None
    return _settings_from(data, path)


def _settings_from(data: dict[str, Any], path: Path) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for name in data:
        if name not in _SCHEMA:
            known = ", ".join(f"[{table}]" for table in _SCHEMA)
            raise ConfigError(f"{path}: unknown setting {name!r}", hint=f"the tables are {known}")
    for table_name, keys in _SCHEMA.items():
        table = data.get(table_name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [{table_name}] must be a table")
        for key, value in table.items():
            if key not in keys:
                known = ", ".join(keys)
                raise ConfigError(f"{path}: unknown setting {table_name}.{key}", hint=f"known: {known}")
            field_name, expected = keys[key]
            settings[field_name] = _checked(value, expected, f"{table_name}.{key}", path)
    values = settings.get("redact_values", ())
    for pattern in values:
        try:
            compiled = re.compile(pattern)
        except (re.error, OverflowError) as exc:
            raise ConfigError(f"{path}: redact.values has a bad pattern {pattern!r}: {exc}") from exc
        if compiled.match("") is not None:   # it would put *** between every two characters
            raise ConfigError(f"{path}: redact.values pattern {pattern!r} matches empty text",
                              hint="a pattern must match at least one character, e.g. 'corp-[0-9a-f]{32}'")
    _check_together(values, path)
    for pattern in settings.get("metric_patterns", ()):
        problem = metric_pattern_problem(pattern)
        if problem:
            raise ConfigError(f"{path}: metrics.patterns: {pattern!r} {problem}",
                              hint="e.g. '^(?P<name>\\w[\\w ]*?)\\s*:\\s*(?P<value>[-+0-9.]+)%'")
    return settings


def _check_together(values: tuple[str, ...], path: Path) -> None:
    try:   # the redactor joins them into one alternation
        re.compile("|".join(f"(?:{pattern})" for pattern in values))
    except (re.error, OverflowError) as exc:
        raise ConfigError(f"{path}: redact.values cannot be used together: {exc}",
                          hint="write flags inline as (?i:...) and give groups distinct names") from exc


def metric_pattern_problem(pattern: str) -> str | None:
    """Why `pattern` cannot name a metric, or None when it can. Checked at load, so a bad pattern
    stops `journal new` before the command starts rather than silently matching nothing."""
    try:
        groups = re.compile(pattern, re.MULTILINE).groupindex
    except (re.error, OverflowError) as exc:
        return f"is not a valid regular expression: {exc}"
    if "name" in groups and "value" not in groups:
        return "has a `name` group but no `value` group"
    if "value" in groups and "name" not in groups:
        return "has a `value` group but no `name` group (or name the group after the metric)"
    if not groups:
        return "has no named group: use (?P<name>...) with (?P<value>...), or (?P<metric>...)"
    return None


def _checked(value: Any, expected: type, name: str, path: Path) -> Any:
    if expected is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: {name} must be true or false")
        return value
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, float) and not (value == value and value < 1e9):
        # nan, inf, 1e308: no timeout or size anyone means, and each breaks arithmetic later
        raise ConfigError(f"{path}: {name} must be a number below 1e9, not {value}")
    if expected is str:
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{path}: {name} must be a non-empty string")
        return value
    if expected is list:
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ConfigError(f"{path}: {name} must be a list of strings")
        return tuple(value)
    if not isinstance(value, (int, float)) or not isinstance(value, expected) \
            or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{path}: {name} must be a non-negative {expected.__name__}")
    return value
