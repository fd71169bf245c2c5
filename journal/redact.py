"""Keep credentials off disk: argv, params, notes, environment values and patches pass through here.

Two rules, applied before anything is written:
- by name: the value of `--api-key X`, `--api-key=X`, `API_KEY=X` or a param named like a credential;
- by shape: values that look like well-known tokens (OpenAI, GitHub, AWS, Slack, Hugging Face, ...),
  passwords inside URLs and `Bearer ...` headers, wherever they appear.
Trackers that only filter by name (Guild keeps `*_API_KEY` values) or not at all (wandb argv) leak.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"

# Words that make a name a credential wherever they appear in it (as a whole word part).
SECRET_WORDS = frozenset({
    "secret", "secrets", "password", "passwd", "pwd", "passphrase", "credential", "credentials",
    "auth", "authorization", "apikey", "cookie", "privatekey", "pat",
})
# Words that make a name a credential only as its last part: `api_key`, `hf_token`, but not
# `key_dim` or `token_dropout`.
SECRET_LAST_WORDS = frozenset({"key", "token", "tokens"})
# Parts that make a name a count or size, never a credential: `max_tokens`, `num_keys`.
COUNT_WORDS = frozenset({"max", "min", "num", "n", "size", "len", "length", "dim", "count", "top"})

TOKEN_SHAPES = (
    r"sk-[A-Za-z0-9_\-]{20,}",                      # OpenAI, Anthropic
    r"gh[pousr]_[A-Za-z0-9]{30,}",                  # GitHub
    r"github_pat_[A-Za-z0-9_]{40,}",
    r"(?:AKIA|ASIA)[0-9A-Z]{16}",                   # AWS access key id
    r"xox[abposr]-[A-Za-z0-9\-]{10,}",              # Slack
    r"hf_[A-Za-z0-9]{30,}",                         # Hugging Face
    r"glpat-[A-Za-z0-9_\-]{20,}",                   # GitLab
    r"AIza[0-9A-Za-z_\-]{35}",                      # Google API key
    r"npm_[A-Za-z0-9]{36}",
    r"pypi-[A-Za-z0-9_\-]{50,}",
    r"eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}",   # JWT
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
)
_URL_PASSWORD = r"(?<=://)[^/\s:@]*:[^/\s@]+(?=@)"
_AUTH_HEADER = r"(?<=Bearer )[A-Za-z0-9._~+/=\-]+|(?<=Basic )[A-Za-z0-9+/=]{8,}"

_NAME_PARTS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


def _name_parts(name: str) -> list[str]:
    return [part.lower() for part in _NAME_PARTS.findall(name)]


class Redactor:
    def __init__(self, extra_names: Iterable[str] = (), extra_values: Iterable[str] = ()) -> None:
        self.secret_words = SECRET_WORDS | {word.lower() for word in extra_names}
        shapes = [*TOKEN_SHAPES, *extra_values]
        self._shapes = re.compile("|".join(f"(?:{shape})" for shape in shapes))
        self._url_password = re.compile(_URL_PASSWORD)
        self._auth_header = re.compile(_AUTH_HEADER)

    def is_secret_name(self, name: str) -> bool:
        parts = _name_parts(name)
        if not parts or COUNT_WORDS.intersection(parts):
            return False
        joined = "".join(parts)
        return (
            bool(self.secret_words.intersection(parts))
            or parts[-1] in SECRET_LAST_WORDS
            or joined in self.secret_words
            or joined.endswith(("apikey", "accesskey", "secretkey", "privatekey"))
        )

    def text(self, text: str) -> str:
        """Mask secret-shaped values anywhere in free text."""
        text = self._shapes.sub(MASK, text)
        text = self._url_password.sub(lambda m: m.group().split(":", 1)[0] + ":" + MASK, text)
        return self._auth_header.sub(MASK, text)

    def argv(self, argv: list[str]) -> list[str]:
        """Mask values given to credential-named options, and secret-shaped text anywhere."""
        out: list[str] = []
        mask_next = False
        for arg in argv:
            if mask_next and not arg.startswith("-"):
                out.append(MASK)
                mask_next = False
                continue
            mask_next = False
            name, sep, _value = arg.partition("=")
            if sep and self.is_secret_name(name.lstrip("-+~")):
                out.append(f"{name}={MASK}")
                continue
            if arg.startswith("-") and not sep and self.is_secret_name(arg.lstrip("-")):
                mask_next = True
            out.append(self.text(arg))
        return out

    def mapping(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Params or environment: credential-named values masked, strings checked by shape."""
        out: dict[str, Any] = {}
        for name, value in values.items():
            if self.is_secret_name(name) and not isinstance(value, bool):
                out[name] = MASK
            elif isinstance(value, str):
                out[name] = self.text(value)
            else:
                out[name] = value
        return out

    def patch(self, patch: bytes) -> tuple[bytes, list[str]]:
        """Mask secret-shaped values on added lines of a text patch; return it and the files touched.

        Only `+` lines change, so the patch still applies; the rebuilt file differs from the
        original exactly where a secret was.
        """
        lines = patch.split(b"\n")
        touched: list[str] = []
        current = ""
        for index, line in enumerate(lines):
            if line.startswith(b"+++ "):
                current = _patch_path(line[4:])
                continue
            if not line.startswith(b"+"):
                continue
            text = line.decode("utf-8", "surrogateescape")
            masked = self.text(text)
            if masked != text:
                lines[index] = masked.encode("utf-8", "surrogateescape")
                if current not in touched:
                    touched.append(current)
        return b"\n".join(lines), touched


def _patch_path(header: bytes) -> str:
    """`b/dir/file` or `"b/dir/fil\\303\\251"` from a `+++` line, as the path the user knows."""
    text = header.decode("utf-8", "surrogateescape").strip()
    if text.startswith('"'):
        text = text[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")
        text = text.encode("latin-1").decode("utf-8", "surrogateescape")
    return text[2:] if text.startswith("b/") else text
