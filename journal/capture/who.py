"""Who ran a run (schema 2's `user`): the local part of the git author's email, as `git var
GIT_AUTHOR_IDENT` would give it (GIT_AUTHOR_EMAIL, else `user.email` from the repository's,
the user's and the system's git config, else EMAIL), else the login name.

Read from the config files, not from `git var`: one more git process would cost every
`journal new` ~3 ms. An `[include]` in a config is not followed (git follows it): then the
login name, or an email set elsewhere, is what the record says.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def run_user(environ: Mapping[str, str], worktree_root: Path | None) -> str:
    email = environ.get("GIT_AUTHOR_EMAIL") or _config_email(environ, worktree_root) \
        or environ.get("EMAIL") or ""
    local = email.strip().strip("<>").partition("@")[0]
    if local:
        return local
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        if environ.get(name):
            return environ[name]
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return ""


def _config_email(environ: Mapping[str, str], worktree_root: Path | None) -> str | None:
    """`user.email` from the first config that sets it: the repository's, then the user's,
    then the system's (the order in which git lets one override the next)."""
    home = Path(environ.get("HOME", "~")).expanduser()
    xdg = Path(environ["XDG_CONFIG_HOME"]) if environ.get("XDG_CONFIG_HOME") else home / ".config"
    files = [worktree_root / ".git" / "config"] if worktree_root is not None else []
    if environ.get("GIT_CONFIG_GLOBAL"):
        files.append(Path(environ["GIT_CONFIG_GLOBAL"]))
    else:
        files += [home / ".gitconfig", xdg / "git" / "config"]
    if not environ.get("GIT_CONFIG_NOSYSTEM"):
        files.append(Path(environ.get("GIT_CONFIG_SYSTEM", "/etc/gitconfig")))
    for file in files:
        email = _user_email_in(file)
        if email:
            return email
    return None


def _user_email_in(file: Path) -> str | None:
    """The last `email` under `[user]` in one git config file (the last one wins in git)."""
    try:
        text = file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    section = ""
    found = None
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].split("#", 1)[0].strip() if '"' not in raw else raw.strip()
        if line.startswith("["):
            section = line[1:line.find("]")].strip().lower() if "]" in line else ""
            rest = line[line.find("]") + 1:].strip() if "]" in line else ""
            if not rest:
                continue
            line = rest                                   # `[user] email = x` on one line
        key, sep, value = line.partition("=")
        if section == "user" and sep and key.strip().lower() == "email":
            found = value.strip().strip('"')
    return found
