"""Keep credentials off disk: records, patches and (through capture/logmask) logs pass through here.

Two rules, applied before anything is written:
- by name: the value of `--api-key X`, `--api-key=X`, `API_KEY=X`, `"api_key": "X"`,
  `X-Api-Key: X` or a param named like a credential, also inside one argument such as
  `sh -c "WANDB_API_KEY=X python train.py"` or a URL query (`?access_token=X`);
- by shape: values that look like well-known tokens (OpenAI, GitHub, AWS, Slack, Hugging Face, ...),
  private key blocks, passwords inside URLs and `Authorization:` / `Bearer ...` headers, wherever
  they appear.
Trackers that only filter by name (Guild keeps `*_API_KEY` values) or not at all (wandb argv) leak.

Patches hold code, where `token = args.token` is not a secret, so they get the shape rules only.

A record passes `Redactor.record` at the door to disk (capture/recording writes every record
through it): every field that can hold text the user or the program gave is masked there, and a
field added later is masked unless it is one of journal's own (`_JOURNAL_FIELDS`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from journal.record import Record

MASK = "***"
MIN_SECRET = 6            # a masked value shorter than this (`1`, `abc`) is not looked for elsewhere
# Record fields journal itself fills with values it made (ids, times, statuses, paths and git's
# own words): left as they are. Every other field is masked.
_JOURNAL_FIELDS = frozenset({"schema", "id", "status", "started", "ended", "duration", "exit_code",
                             "pid", "host", "user", "cwd", "git", "log", "series", "rerun_of",
                             # interpreter, platform, package versions: `google-auth = "2.1"` is
                             # no credential, whatever its name says
                             "environment"})

MAX_BINARY_SCAN = 64 << 20   # bytes of a binary file in a patch looked through for secrets
# The lists of file names in a record's [git]: journal's own field, but the names are the user's.
_GIT_PATH_LISTS = frozenset({"changed", "untracked", "redacted", "left_out"})

# Words that make a name a credential wherever they appear in it (as a whole word part).
SECRET_WORDS = frozenset({
    "secret", "secrets", "password", "passwd", "pwd", "passphrase", "credential", "credentials",
    "auth", "authorization", "apikey", "cookie", "privatekey", "pat", "signature",
})
# Names that are credentials only as a whole: `--pass X`, `&sig=` (Azure SAS).
SECRET_NAMES = frozenset({"pass", "sig"})
# Words that make a name a credential only as its last part: `api_key`, `hf_token`, but not
# `key_dim` or `token_dropout`. (Plural `tokens` names a count: `warmup_tokens`, `final_tokens`.)
SECRET_LAST_WORDS = frozenset({"key", "token"})
# Parts that make a name a count or size, never a credential: `max_tokens`, `num_keys`.
COUNT_WORDS = frozenset({"max", "min", "num", "n", "size", "len", "length", "dim", "count", "top"})
# Parts that make a trailing `key`/`token` something else: tokenizer special tokens
# (`--eos_token "</s>"`), sort and metric keys, JAX PRNG keys.
NOT_CREDENTIAL_WORDS = frozenset({
    "pad", "bos", "eos", "unk", "mask", "sep", "cls", "special", "start", "end", "stop",
    "sort", "metric", "monitor", "rng", "prng", "seed", "primary", "foreign", "group",
})
# Run-together names: `apikey`, `hfapitoken`, `awssecretaccesskey`, `PGPASSWORD`.
SECRET_SUFFIXES = (
    "apikey", "accesskey", "secretkey", "privatekey", "apitoken", "accesstoken", "authtoken",
    "refreshtoken", "bottoken", "sessiontoken", "password", "passwd",
)
# An environment variable (upper case) ending in PASS holds one: SSHPASS, PGPASS, DB_PASS.
_ENV_PASS = re.compile(r"[A-Z0-9_]*PASS")

# A token shape starts a word: `task-classification-...` holds no `sk-` key.
_START = r"(?<![A-Za-z0-9])"
TOKEN_SHAPES = (
    r"sk-(?=[A-Za-z_\-]{0,80}[0-9])[A-Za-z0-9_\-]{20,}",   # OpenAI, Anthropic (they hold digits)
    r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}",       # Stripe
    r"gh[pousr]_[A-Za-z0-9]{30,}",                     # GitHub
    r"github_pat_[A-Za-z0-9_]{40,}",
    r"(?:AKIA|ASIA)[0-9A-Z]{16}(?![0-9A-Z])",          # AWS access key id
    r"xox[abposre]-[A-Za-z0-9\-]{10,}",                # Slack
    r"xapp-[A-Za-z0-9\-]{10,}",
    r"hf_[A-Za-z0-9]{30,}",                            # Hugging Face
    r"glpat-[A-Za-z0-9_\-]{20,}",                      # GitLab
    r"AIza[0-9A-Za-z_\-]{35}",                         # Google API key
    r"ya29\.[0-9A-Za-z_\-]{20,}",                      # Google OAuth access token
    r"npm_[A-Za-z0-9]{36}",
    r"pypi-[A-Za-z0-9_\-]{50,}",
    r"r8_[A-Za-z0-9]{30,}",                            # Replicate
    r"SG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}",   # SendGrid
    r"eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}",   # JWT
)
# The literal start of every shape above (and the webhook below): no prefix, no token.
_SHAPE_PREFIXES = ("sk-", "sk_", "rk_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "AKIA", "ASIA", "xox", "xapp-", "hf_",
                   "glpat-", "AIza", "ya29.", "npm_", "pypi-", "r8_", "SG.", "eyJ",
                   "hooks.slack.com/services/")
_SLACK_WEBHOOK = r"(?<=hooks\.slack\.com/services/)[A-Za-z0-9/]+"
_KEY_BEGIN = r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
_KEY_END = r"-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
_PRIVATE_KEY = re.compile(rf"{_KEY_BEGIN}.*?(?:{_KEY_END}|\Z)", re.S)
KEY_BEGIN_RE = re.compile(_KEY_BEGIN)
KEY_END_RE = re.compile(_KEY_END)
# `scheme://user:password@host`: the password runs to the last `@` of the authority.
_URL_PASSWORD = re.compile(
    r"(?<=://)(?P<user>[^\s/?#:@\"'<>]*):(?P<password>[^\s/?#\"'<>]+)@"
    r"(?=[^\s/?#@\"'<>]*(?:[\s/?#\"'<>]|$))"
)
_AUTH_HEADER = re.compile(
    r"(?i:\b(?:proxy-)?authorization)[ \t]*:[ \t]*"
    r"(?P<scheme>(?i:bearer|basic|token|bot|digest|apikey|api-key|sso-key)[ \t]+)?"
    r"(?P<value>[^\s\"',;]+)"
)
# A bare `Bearer xxx`; `Basic` only inside an Authorization header ("Basic training" is prose).
_BEARER = re.compile(r"(?<=Bearer )[A-Za-z0-9._~+/=\-]+")

# Named values, as (name and separator, value) pairs: the value is only read after a credential
# name, so text full of ordinary `a=b` pairs is scanned once (linear, not quadratic).
_VALUE = re.compile(r"\"[^\"\n]*\"|'[^'\n]*'|[^\s\"'&;]+")
_NAMED = (
    # `NAME=VALUE` (shell, Hydra, .env, URL queries, Python keyword arguments).
    ("=", re.compile(r"(?<![\w.\-])(?P<name>-{0,2}[+~]{0,2}[A-Za-z_][\w.\-]*)[ \t]*=[ \t]*(?!=)"),
     _VALUE),
    # `--name VALUE` inside one string (`sh -c "python x.py --password hunter2"`).
    ("-", re.compile(r"(?<![\w.\-])(?P<name>--?[A-Za-z][\w.\-]*)[ \t]+"),
     re.compile(r"\"[^\"\n]*\"|'[^'\n]*'|[^\s\"'&;\-][^\s\"'&;]*")),
    # `"name": "value"` (JSON, Python dicts).
    (":", re.compile(r"(?P<q>[\"'])(?P<name>[A-Za-z_][\w.\-]*)(?P=q)[ \t]*:[ \t]*"),
     re.compile(r"\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*'")),
    # `Name: value` (HTTP headers such as `X-Api-Key: ...`, YAML).
    (":", re.compile(r"(?<![\w.\-])(?P<name>[A-Za-z][\w\-]*):[ \t]+"), re.compile(r"[^\s\"',;]+")),
)
_ARG_NAME = re.compile(r"-{0,2}[+~]{0,2}[A-Za-z_][\w.\-]*")


class _Option:
    """A program's short option that takes a password: `-pX` attached, `-p X` separate;
    `user`: the value is `user:password` and only the password goes."""

    def __init__(self, flag: str, *, attached: bool, separate: bool, user: bool = False) -> None:
        self.flag, self.attached, self.separate, self.user = flag, attached, separate, user


_MYSQL = _Option("-p", attached=True, separate=False)    # `mysql -p db`: -p prompts, db is a name
_PROGRAM_OPTIONS = {
    **dict.fromkeys(("mysql", "mysqldump", "mysqladmin", "mysqlimport", "mysqlcheck",
                     "mysqlshow", "mariadb", "mariadb-dump"), _MYSQL),
    "sshpass": _Option("-p", attached=True, separate=True),
    "docker": _Option("-p", attached=True, separate=True),
    "podman": _Option("-p", attached=True, separate=True),
    "curl": _Option("-u", attached=True, separate=True, user=True),
}
_USER_OPTIONS = frozenset({"-u", "--user", "-U", "--proxy-user"})
_USER_PASSWORD = re.compile(r"(?P<user>[^:\s]*):(?P<password>\S+)")
_KEEP_USER = r"\g<user>:" + MASK
_LOGIN_PROGRAMS = frozenset({"wandb", "huggingface-cli", "hf", "docker", "podman", "npm", "gh",
                             "comet", "neptune", "modal", "replicate"})
_KEY_LIKE = re.compile(r"[A-Za-z0-9_\-.]{16,}")
# The same inside one string (`sh -c "..."`): (words that must appear, what to mask).
_IN_A_COMMAND_LINE = (
    (("mysql", "mariadb"), re.compile(r"(?P<keep>(?<![\w-])-p)(?![\s\"'])[^\s\"';&|]+")),
    (("sshpass", "docker", "podman"), re.compile(r"(?P<keep>(?<![\w-])-p[ \t]+)[^\s\"';&|-][^\s\"';&|]*")),
    (("curl",), re.compile(r"(?P<keep>(?<![\w-])(?:-u|--user|-U|--proxy-user)(?:[ \t]+|=)?[^\s:\"']*:)[^\s\"';&|]+")),
    (("login",), re.compile(r"(?P<keep>\blogin[ \t]+)[A-Za-z0-9_\-.]{16,}")),
)
_COMMAND_LINE_WORDS = tuple(word.encode() for words, _ in _IN_A_COMMAND_LINE for word in words)
# `Authorization:` in the cases people write it (the header's pattern is case-insensitive; a
# lower() copy of megabytes of output for each check would cost more than the check).
_AUTHORIZATION = ("uthorization", "UTHORIZATION")
# Every literal a pattern of `shapes` needs (UTF-8): without one of them, nothing can match.
# (Not the command-line words: the log is not searched for `curl -u user:X` shapes, see
# `shapes`; each literal here is one more search of every chunk of a command's output.)
_TRIGGERS = tuple(word.encode() for word in (
    *_SHAPE_PREFIXES, "PRIVATE KEY", *_AUTHORIZATION, "Bearer "))


def _by_first_byte(literals: Iterable[bytes]) -> list[re.Pattern[bytes]]:
    """One search per first byte for all `literals`: a regex that starts with a literal finds
    its candidates in C at ~2 GB/s, where `x in data` for 35 literals one by one reads the data
    35 times (~40 MB/s in all; this: ~125 MB/s)."""
    groups: dict[bytes, list[bytes]] = {}
    for literal in literals:
        groups.setdefault(literal[:1], []).append(re.escape(literal[1:]))
    return [re.compile(re.escape(first) + b"(?:" + b"|".join(rests) + b")")
            for first, rests in groups.items()]


_TRIGGER_SEARCHES = _by_first_byte(_TRIGGERS)

_NAME_PARTS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")


def _name_parts(name: str) -> list[str]:
    return [part.lower() for part in _NAME_PARTS.findall(name)]


def is_path(value: str) -> bool:
    """A path (SECRETS_DIR, GIT_ASKPASS, a CI's *_TOKEN_DIR, the shell's PWD): a credential-named
    variable's value that is no secret, and masking it would hide folders everywhere."""
    return value.startswith(("/", "~", "./", "../"))


def _looks_like_a_secret(value: str) -> bool:
    """A value of a credential-named variable worth looking for elsewhere: not a word that
    would mask ordinary text (`AUTH_TYPE=bearer`), nor a path or a list."""
    if is_path(value):
        return False
    return (len(value) >= 8 and not any(char.isspace() for char in value)
            and (len(value) >= 16 or any(char.isdigit() for char in value)))


def masked_pieces(original: str, masked: str) -> list[str]:
    """The parts of `original` that became `***` in `masked` (as Redactor masks: in place), of
    MIN_SECRET characters or more."""
    if original == masked or MASK not in masked:
        return []
    parts = masked.split(MASK)
    found = re.fullmatch("(.+?)".join(map(re.escape, parts)), original, re.S)
    return [piece for piece in found.groups() if len(piece) >= MIN_SECRET] if found else []


def _masked_value(value: str) -> str:
    """`"***"` keeps its quotes, so a masked shell or JSON string stays well-formed."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[0] + MASK + value[0]
    return MASK


class Redactor:
    def __init__(self, extra_names: Iterable[str] = (), extra_values: Iterable[str] = (),
                 environ: Mapping[str, str] | None = None) -> None:
        """`extra_names`, `extra_values`: the config's `[redact]`; `environ`: the environment
        whose credential-named variables hold values masked wherever they appear (a W&B key
        exported and also typed into a script, a note or a patch)."""
        phrases = [tuple(_name_parts(word)) for word in extra_names]
        self.secret_words = SECRET_WORDS | {p[0] for p in phrases if len(p) == 1}
        self._secret_phrases = tuple(p for p in phrases if len(p) > 1)
        # One lookbehind before the alternation, not one per shape: the regex engine then tests
        # the word start once per position (patches are scanned 4x faster).
        shapes = [_START + "(?:" + "|".join(f"(?:{shape})" for shape in TOKEN_SHAPES) + ")"]
        shapes += [_SLACK_WEBHOOK, *(f"(?:{shape})" for shape in extra_values)]
        self._shapes = re.compile("|".join(shapes))
        self._custom_shapes = bool(extra_values)
        known = sorted({value for name, value in (environ or {}).items()
                        if self.is_secret_name(name) and _looks_like_a_secret(value)},
                       key=len, reverse=True)
        self._known = re.compile("|".join(map(re.escape, known))) if known else None
        self._known_bytes = [value.encode("utf-8", "surrogateescape") for value in known]

    def is_secret_name(self, name: str) -> bool:
        parts = _name_parts(name)
        while parts and parts[-1].isdigit():   # API_KEY_2, hf_token1
            parts.pop()
        # A size or count of a secret is no secret: `max_password_length`, `token_count`.
        if not parts or parts[-1] in COUNT_WORDS:
            return False
        joined = "".join(parts)
        if self.secret_words.intersection(parts) or joined in self.secret_words:
            return True                        # `top_secret` too
        if joined in SECRET_NAMES or _ENV_PASS.fullmatch(name):
            return True
        dotted = "." + ".".join(parts) + "."
        if any("." + ".".join(phrase) + "." in dotted for phrase in self._secret_phrases):
            return True
        if COUNT_WORDS.intersection(parts) or NOT_CREDENTIAL_WORDS.intersection(parts[:-1]):
            return False                       # `max_tokens`, `num_keys`, `eos_token`
        return parts[-1] in SECRET_LAST_WORDS or joined.endswith(SECRET_SUFFIXES)

    def may_hold_secret(self, data: bytes) -> bool:
        """False when `shapes(..., command_lines=False)` surely finds nothing in `data` (UTF-8):
        none of the literal parts its patterns need is there. A few substring scans in C, instead of decoding megabytes
        of output and running the patterns (the log masker's fast path)."""
        if self._custom_shapes:
            return True
        if any(value in data for value in self._known_bytes):
            return True
        if b"@" in data and b"://" in data:       # a URL password (memchr finds no @ fast)
            return True
        return any(search.search(data) for search in _TRIGGER_SEARCHES)

    def shapes(self, text: str, *, command_lines: bool = True) -> str:
        """Mask secret-shaped values only: token formats, private keys, URL passwords, headers,
        and with `command_lines` the passwords of `curl -u user:X`, `mysql -pX` and the like
        (wanted in scripts and patches; the log leaves them out: its masking must keep up with
        a chatty command, and such a password given on journal's command line is masked in
        the log by its value anyway).

        Each regex runs only when the text holds its literal part: `str.find` scans megabytes
        of patch in microseconds, the alternation of shapes in tens of milliseconds."""
        if "PRIVATE KEY" in text:
            text = _PRIVATE_KEY.sub(MASK, text)
        if self._known is not None:
            text = self._known.sub(MASK, text)
        if self._custom_shapes or any(prefix in text for prefix in _SHAPE_PREFIXES):
            text = self._shapes.sub(MASK, text)
        if "://" in text and "@" in text:
            text = _URL_PASSWORD.sub(lambda m: m["user"] + ":" + MASK + "@", text)
        if ":" in text and any(word in text for word in _AUTHORIZATION):
            text = _AUTH_HEADER.sub(lambda m: m.string[m.start():m.start("value")] + MASK, text)
        for words, pattern in _IN_A_COMMAND_LINE if command_lines else ():
            if any(word in text for word in words):   # `curl -u user:X` in a script too
                text = pattern.sub(lambda m: m.group("keep") + MASK, text)
        return _BEARER.sub(MASK, text) if "Bearer " in text else text

    def text(self, text: str) -> str:
        """Mask secret-shaped values, and the values of credential-named settings, in free text
        (a shell line in one string too: `sh -c "mysql -pX ..."`)."""
        text = self.shapes(text)
        for needed, name_pattern, value_pattern in _NAMED:
            if needed in text:
                text = self._named(name_pattern, value_pattern, text)
        return text

    def _named(self, name_pattern: re.Pattern[str], value_pattern: re.Pattern[str], text: str
               ) -> str:
        """Mask the value after each credential name. After an ordinary name the search goes on
        right there, so a value is searched too (`--url=https://h/?token=X`)."""
        out: list[str] = []
        done = pos = 0
        while match := name_pattern.search(text, pos):
            pos = match.end()
            name = match["name"]
            if name.lower().endswith("authorization"):
                continue        # shapes() masked its value and kept the scheme
            if not self.is_secret_name(name.lstrip("-+~")):
                continue
            value = value_pattern.match(text, pos)
            if value:
                out += [text[done:pos], _masked_value(value.group())]
                done = pos = value.end()
        return "".join(out) + text[done:] if out else text

    def argv(self, argv: list[str]) -> list[str]:
        """Mask values given to credential-named options, the short options some programs take a
        password with (`mysql -pX`, `sshpass -p X`, `curl -u user:X`), a key after `login`
        (`wandb login KEY`), and secret-shaped text anywhere."""
        out: list[str] = []
        mask_next = False
        user_next = False            # curl -u: the value's part after the colon
        program = login_program = ""
        for arg in argv:
            # After `--password`, the next word is its value unless it is a long option: a
            # password may start with `-` (`--password -Secret1`).
            if mask_next and not arg.startswith("--"):
                out.append(MASK)
                mask_next = False
                continue
            mask_next = False
            if user_next:
                user_next = False
                out.append(_USER_PASSWORD.sub(_KEEP_USER, arg, count=1))
                continue
            base = arg.rsplit("/", 1)[-1]
            if base in _PROGRAM_OPTIONS:
                program = base
            option = _PROGRAM_OPTIONS.get(program)
            if option is not None and arg.startswith(option.flag) and not arg.startswith("--"):
                attached = arg[len(option.flag):]
                if attached and option.attached:
                    out.append(option.flag + (_USER_PASSWORD.sub(_KEEP_USER, attached, count=1)
                                              if option.user else MASK))
                    continue
                if not attached and option.separate:
                    user_next, mask_next = option.user, not option.user
                    out.append(arg)
                    continue
            if base in _LOGIN_PROGRAMS:
                login_program = base
            if login_program and out and out[-1] == "login" and _KEY_LIKE.fullmatch(arg):
                out.append(MASK)
                continue
            name, sep, value = arg.partition("=")
            if sep and _ARG_NAME.fullmatch(name) and self.is_secret_name(name.lstrip("-+~")):
                out.append(f"{name}={MASK}")
                continue
            if sep and program in _PROGRAM_OPTIONS and name in _USER_OPTIONS:
                out.append(name + "=" + _USER_PASSWORD.sub(_KEEP_USER, value, count=1))
                continue
            if arg.startswith("-") and not sep and self.is_secret_name(arg.lstrip("-")):
                mask_next = True
            elif arg in _USER_OPTIONS and program == "curl":
                user_next = True
            out.append(self.text(arg))
        # A value masked in one argument is masked wherever else it appears (a script that
        # prints the password it was given on its own command line).
        found = {piece for arg, masked in zip(argv, out) for piece in masked_pieces(arg, masked)}
        if found:
            pattern = re.compile("|".join(map(re.escape, sorted(found, key=len, reverse=True))))
            out = [pattern.sub(MASK, arg) for arg in out]
        return out

    def mapping(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Params or environment: credential-named values masked, strings checked by shape and name,
        nested tables and lists included."""
        return {self.shapes(str(name)): self._value(str(name), value)
                for name, value in values.items()}

    def _value(self, name: str, value: Any) -> Any:
        if self.is_secret_name(name) and value is not None and not isinstance(value, bool):
            return MASK
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return self.mapping(value)
        if isinstance(value, (list, tuple)):
            return [self._value("", item) for item in value]
        return value

    def record(self, record: Record) -> Record:
        """A copy of `record` with every field that may hold a secret masked: the command as
        argv (the word after `--password` too), tags (then de-duplicated), metrics' text values
        (numbers are results, never secrets, whatever their name), and any other field not of
        journal's own making (note, params, env, error, problems, amendments, and whatever comes
        later) as text, tables and lists. A field's own name is no credential name: only names
        inside it are (a param `api_key`, not the table `params`)."""
        masked: dict[str, Any] = {}
        for name, value in record.items():
            if name == "git" and isinstance(value, Mapping):
                masked[name] = self._git(value)
            elif name in _JOURNAL_FIELDS or value is None:
                masked[name] = value
            elif name == "command" and isinstance(value, list):
                masked[name] = self.argv([str(arg) for arg in value])
            elif name == "tags" and isinstance(value, list):
                masked[name] = list(dict.fromkeys(self._value("", tag) for tag in value))
            elif name == "metrics" and isinstance(value, Mapping):
                masked[name] = {self.shapes(str(key)): self._value(str(key), item)
                                if isinstance(item, str) else item for key, item in value.items()}
            else:
                masked[name] = self._value("", value)
        return masked  # type: ignore[return-value]

    def _git(self, git: Mapping[str, Any]) -> dict[str, Any]:
        """The code state, with a secret in a file's name masked (`notes-<token>.txt`)."""
        return {name: [self.shapes(path) if isinstance(path, str) else path for path in value]
                if name in _GIT_PATH_LISTS and isinstance(value, list) else value
                for name, value in git.items()}

    def safe_patch(self, patch: bytes) -> tuple[bytes, list[str], list[str]]:
        """The patch with secrets masked on added lines, and without the file sections where a
        secret sits on a context or removed line (already committed, it cannot be masked there
        without breaking `git apply`). Returns it, the files masked and the files dropped."""
        if b"GIT binary patch" not in patch and not self.may_hold_secret(patch) \
                and not any(word in patch for word in _COMMAND_LINE_WORDS):
            return patch, [], []    # no literal any shape needs: a few scans in C, not 5,000
        kept: list[bytes] = []
        dropped: list[str] = []
        for section in _file_sections(patch):
            path = self._unmaskable_secret_in(section)
            if path is None:
                kept.append(section)
            else:
                dropped.append(path)
        masked, touched = self.patch(b"".join(kept))
        return masked, touched, dropped

    def _unmaskable_secret_in(self, section: bytes) -> str | None:
        """The section's path when a secret sits where it cannot be masked without breaking the
        patch: on a context or removed line, in a file's name, or in a binary file's data."""
        whole = section.decode("utf-8", "surrogateescape")
        header = whole.partition("\n")[0]
        if self.shapes(header) != header:
            return _header_path(section)
        if "\nGIT binary patch\n" in whole:
            return _header_path(section) if any(
                self._holds_secret(data) for data in _binary_data(section)) else None
        if "PRIVATE KEY" not in whole and self.shapes(whole) == whole:
            return None      # the usual case: no secret anywhere, one scan in C
        old_path = new_path = ""
        for line in section.split(b"\n"):
            if line.startswith(b"--- ") and not old_path:
                old_path = _patch_path(line[4:], "a/")
            elif line.startswith(b"+++ ") and not new_path:
                new_path = _patch_path(line[4:])
            elif line[:1] in (b" ", b"-") and not line.startswith(b"--- "):
                text = line[1:].decode("utf-8", "surrogateescape")
                if "PRIVATE KEY" in text or self.shapes(text) != text:
                    return new_path if new_path and new_path != "/dev/null" else old_path
        return None

    def _holds_secret(self, data: bytes) -> bool:
        """A file's bytes hold a secret shape: as UTF-8, or as UTF-16 (NULs left out)."""
        for variant in (data, data.replace(b"\0", b"")):
            text = variant.decode("utf-8", "surrogateescape")
            if "PRIVATE KEY" in text or self.shapes(text) != text:
                return True
        return False

    def patch(self, patch: bytes) -> tuple[bytes, list[str]]:
        """Mask secret-shaped values on added lines of a text patch; return it and the files
        touched.

        Only `+` lines change, so the patch still applies; the rebuilt file differs from the
        original exactly where a secret was. Hunk line counts tell added lines from `+++` headers,
        so an added line `++ x` is still checked.
        """
        lines = patch.split(b"\n")
        touched: list[str] = []
        current = ""
        old_left = new_left = 0     # lines still to come in the current hunk
        in_key = False              # inside an added private key block
        for index, line in enumerate(lines):
            if old_left <= 0 and new_left <= 0:
                in_key = False
                if line.startswith(b"+++ "):
                    current = _patch_path(line[4:])
                else:
                    hunk = _HUNK.match(line)
                    if hunk:
                        old_left = 1 if hunk["old"] is None else int(hunk["old"])
                        new_left = 1 if hunk["new"] is None else int(hunk["new"])
                continue
            marker = line[:1]
            if marker == b"-":
                old_left -= 1
                continue
            if marker == b" " or (marker == b"" and index < len(lines) - 1):
                old_left -= 1
                new_left -= 1
                continue
            if marker != b"+":
                continue    # `\ No newline at end of file`
            new_left -= 1
            text = line[1:].decode("utf-8", "surrogateescape")
            if in_key:
                masked = text if not text else MASK
                if KEY_END_RE.search(text):
                    in_key = False
                    masked = MASK
            else:
                masked = self.shapes(text)
                if KEY_BEGIN_RE.search(text) and not KEY_END_RE.search(text):
                    in_key = True
            if masked != text:
                lines[index] = b"+" + masked.encode("utf-8", "surrogateescape")
                if current not in touched:
                    touched.append(current)
        return b"\n".join(lines), touched


_HUNK = re.compile(rb"@@ -\d+(?:,(?P<old>\d+))? \+\d+(?:,(?P<new>\d+))? @@")
_C_ESCAPES = {ord("a"): 7, ord("b"): 8, ord("t"): 9, ord("n"): 10, ord("v"): 11, ord("f"): 12,
              ord("r"): 13, ord('"'): 34, ord("\\"): 92}


def _file_sections(patch: bytes) -> list[bytes]:
    """A patch cut before each `diff --git` header (hunk lines always start with a marker, so a
    line starting so is a header)."""
    starts = [0] + [index + 1 for index in _find_all(patch, b"\ndiff --git ")]
    return [patch[start:end] for start, end in zip(starts, starts[1:] + [len(patch)]) if end > start]


def _find_all(data: bytes, needle: bytes) -> list[int]:
    found, index = [], data.find(needle)
    while index >= 0:
        found.append(index)
        index = data.find(needle, index + 1)
    return found


def _header_path(section: bytes) -> str:
    """The file a `diff --git a/X b/X` section is about."""
    names = section.partition(b"\n")[0][len(b"diff --git "):]
    if names.endswith(b'"'):                       # quoted: the second quoted name
        return _patch_path(names[names.rfind(b' "') + 1:])
    return _patch_path(names[(len(names) + 1) // 2:])


def _binary_data(section: bytes) -> list[bytes]:
    """The data of each `literal`/`delta` block of a `GIT binary patch` (base85 lines of zlib
    data; a delta's inserted bytes are in its data as they are), up to MAX_BINARY_SCAN."""
    import base64
    import zlib

    blocks: list[bytes] = []
    encoded: list[bytes] | None = None      # the lines of the block being read
    for line in [*section.split(b"\n"), b""]:
        if line.startswith((b"literal ", b"delta ")):
            encoded = []
        elif encoded is not None and line:
            encoded.append(line)
        elif encoded is not None:           # a blank line ends the block
            try:
                raw = b"".join(base64.b85decode(part[1:])[:_length(part[0])] for part in encoded)
                blocks.append(zlib.decompressobj().decompress(raw, MAX_BINARY_SCAN))
            except (ValueError, zlib.error):
                blocks.append(b"")
            encoded = None
    return blocks


def _length(marker: int) -> int:
    """The byte count a base85 line of a binary patch starts with: A-Z 1-26, a-z 27-52."""
    return marker - 64 if marker <= 90 else marker - 96 + 26


def _patch_path(header: bytes, prefix: str = "b/") -> str:
    """`b/dir/file` or `"b/dir/fil\\303\\251"` from a `+++` line, as the path the user knows."""
    if header.endswith(b"\t"):     # git adds a tab after names holding a space
        header = header[:-1]
    if header.startswith(b'"') and header.endswith(b'"') and len(header) >= 2:
        header = _c_unquote(header[1:-1])
    text = header.decode("utf-8", "surrogateescape")
    return text[2:] if text.startswith(prefix) else text


def _c_unquote(quoted: bytes) -> bytes:
    """Undo git's C-style quoting (`\\303\\251`, `\\t`, `\\"`) byte for byte."""
    out = bytearray()
    index = 0
    while index < len(quoted):
        byte = quoted[index]
        index += 1
        if byte != 0x5C or index >= len(quoted):
            out.append(byte)
            continue
        escaped = quoted[index]
        if 0x30 <= escaped <= 0x37 and quoted[index:index + 3].isdigit():
            out.append(int(quoted[index:index + 3], 8) & 0xFF)
            index += 3
        else:
            out.append(_C_ESCAPES.get(escaped, escaped))
            index += 1
    return bytes(out)
