"""Secrets masked in the log: by shape and by the values the run was given, a line at a time,
while the terminal still gets the output as it is."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from conftest import journal, only_record

from journal.capture.logmask import (
    FLUSH_AFTER,
    HOLD_BACK,
    MAX_PENDING,
    LogMasker,
    known_secrets,
)
from journal.redact import Redactor, masked_pieces

PY = sys.executable
GITHUB = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
OPENAI = "sk-proj-" + "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe"


def masker(*secrets: str) -> LogMasker:
    return LogMasker(Redactor(), secrets)


def test_whole_lines_are_masked_by_shape_and_by_value() -> None:
    mask = masker("PLAIN-secret-1")
    out = mask.feed(f"token {GITHUB} ok\nNamespace(api_key='PLAIN-secret-1', lr=0.1)\n".encode(), 0)
    assert out == b"token *** ok\nNamespace(api_key='***', lr=0.1)\n"


def test_a_token_split_across_reads_is_still_masked() -> None:
    mask = masker()
    first = mask.feed(f"epoch 1\nkey {GITHUB[:10]}".encode(), 0.0)
    assert first == b"epoch 1\n"            # the partial line waits for its end
    second = mask.feed(f"{GITHUB[10:]} done\r50%\r".encode(), 0.1)
    assert second == b"key *** done\r50%\r"
    assert mask.flush() == b""


def test_a_partial_line_is_written_once_it_waited_or_grew() -> None:
    mask = masker()
    assert mask.feed(b"Epoch 3: 10%|#", 10.0) == b""
    assert mask.due(10.0 + FLUSH_AFTER / 2) == b""
    # ... but for the run of non-space characters it ends with (half a password?)
    assert mask.due(10.0 + FLUSH_AFTER) == b"Epoch 3: "
    assert mask.flush() == b"10%|#"
    # A line that grew too long is written, but for the word it ends with (half a secret?).
    assert mask.feed(b"x" * MAX_PENDING, 20.0) == b"x" * (MAX_PENDING - HOLD_BACK)
    assert mask.flush() == b"x" * HOLD_BACK


def test_a_token_cut_by_a_pause_or_at_the_size_limit_is_still_masked() -> None:
    """A secret the program wrote in two pieces with a pause between them, or that straddles the
    point where a long line is written out, is masked whole: the word a partial line ends with
    waits for the rest."""
    paused = masker()
    out = paused.feed(f"token: {GITHUB[:12]}".encode(), 0.0)
    out += paused.due(0.7)                              # 0.7 s later, no more output yet
    assert out == b"token: "
    out += paused.feed(f"{GITHUB[12:]} ok\n".encode(), 0.8)
    assert out == b"token: *** ok\n"
    long_line = masker()
    head = b"y" * (MAX_PENDING - 10) + b" "
    out = long_line.feed(head + GITHUB[:20].encode(), 5.0)
    out += long_line.feed(GITHUB[20:].encode() + b" end\n", 5.1) + long_line.flush()
    assert GITHUB.encode() not in out and out == head + b"*** end\n"


@pytest.mark.parametrize("secret", ["Sup3r!Pass99", "p@ss#word&1,x", "a$b*c(d)e;f|g"])
def test_a_password_of_any_characters_cut_by_a_pause_is_still_masked(secret: str) -> None:
    """Not only token characters wait: a password is anything but white space."""
    cut = len(secret) // 2
    mask = masker(secret)
    out = mask.feed(f"pw: {secret[:cut]}".encode(), 0.0) + mask.due(0.9)
    out += mask.feed(f"{secret[cut:]} end\n".encode(), 1.0) + mask.flush()
    assert out == b"pw: *** end\n"
    long_line = masker(secret)
    head = b"y " * ((MAX_PENDING - 4) // 2)
    out = long_line.feed(head + secret[:cut].encode(), 5.0)
    out += long_line.feed(secret[cut:].encode() + b" end\n", 5.1) + long_line.flush()
    assert secret.encode() not in out and out == head + b"*** end\n"


def test_output_without_secrets_passes_byte_for_byte() -> None:
    data = bytes(range(256)) * 64 + "日本語\n".encode() + b"caf\xe9\n\x1b[31mred\x1b[0m\n"
    mask = masker("PLAIN-secret-1")
    assert mask.feed(data, 0) + mask.flush() == data


def test_bytes_that_are_not_utf8_survive_around_a_mask() -> None:
    mask = masker("PLAIN-secret-1")
    assert mask.feed(b"\xff\xfe PLAIN-secret-1 \xc3\n", 0) == b"\xff\xfe *** \xc3\n"


def test_a_private_key_printed_over_several_reads_is_masked_to_its_end() -> None:
    mask = masker()
    out = mask.feed(b"loading\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n", 0)
    out += mask.feed(b"AAAABG5vbmUAAAA\n", 0.1)
    out += mask.feed(b"-----END OPENSSH PRIVATE KEY-----\nafter\n", 0.2)
    assert b"b3BlbnNz" not in out and b"AAAABG5v" not in out
    assert out.startswith(b"loading\n") and out.endswith(b"after\n")


@pytest.mark.parametrize(("original", "masked", "pieces"), [
    ("--password=PLAIN-secret-2", "--password=***", ["PLAIN-secret-2"]),
    ("postgres://alice:hunter22@db/x", "postgres://alice:***@db/x", ["hunter22"]),
    (f"HF={OPENAI} and {GITHUB}", "HF=*** and ***", [OPENAI, GITHUB]),
    ("--pw=abc", "--pw=***", []),                 # too short to mask everywhere
    ("plain", "plain", []),
])
def test_masked_pieces(original: str, masked: str, pieces: list[str]) -> None:
    assert masked_pieces(original, masked) == pieces


def test_known_secrets_come_from_the_command_line_and_the_environment() -> None:
    argv = ["python", "train.py", "--api-key", "PLAIN-secret-1", "--lr", "3e-4", f"--init={OPENAI}"]
    environ = {"WANDB_API_KEY": "plain-wandb-value", "HOME": "/home/me", "PATH": "/usr/bin",
               "DATABASE_URL": "postgres://u:plain-db-pass@h/x", "MAX_TOKENS": "5120000"}
    redactor = Redactor()
    assert set(known_secrets(argv, redactor.argv(argv), environ, redactor)) == {
        "PLAIN-secret-1", OPENAI, "plain-wandb-value", "plain-db-pass"}


def test_journal_new_keeps_secrets_out_of_the_log_but_not_off_the_terminal(repo: Path) -> None:
    script = (
        "import os, sys, time\n"
        "print(sys.argv[1:], flush=True)\n"                       # the print(args) habit
        "print('env', os.environ['HF_TOKEN'], flush=True)\n"
        f"sys.stdout.write('split {GITHUB[:12]}'); sys.stdout.flush(); time.sleep(0.2)\n"
        f"sys.stdout.write('{GITHUB[12:]} end\\n'); sys.stdout.flush()\n"
        "sys.stderr.write('tail without newline')\n"
    )
    env = {**os.environ, "HF_TOKEN": "plain-hf-value-123"}
    done = journal("new", "-q", "--", PY, "-c", script, "--api-key", "PLAIN-secret-1",
                   "--lr", "0.1", cwd=repo, env=env)
    assert done.returncode == 0, done.stderr
    shown = done.stdout + done.stderr
    for secret in (b"PLAIN-secret-1", b"plain-hf-value-123", GITHUB.encode()):
        assert secret in shown                  # the terminal gets the output unchanged
    record = only_record(repo / ".journal")
    log = (repo / ".journal" / record["log"]["path"]).read_bytes()
    assert b"PLAIN-secret" not in log and b"plain-hf-value" not in log and b"ghp_" not in log
    assert b"['--api-key', '***', '--lr', '0.1']\n" in log
    assert b"env ***\n" in log and b"split *** end\n" in log
    assert log.endswith(b"tail without newline")
    assert record["log"]["bytes"] == len(log) and "problems" not in record


def test_the_fast_path_never_skips_what_the_shapes_would_mask() -> None:
    """A chunk the masker passes on undecoded (no literal a secret shape needs) is one the full
    masking would have left as it is: for every shape, in the middle of ordinary output."""
    from test_redact import (
        ANTHROPIC,
        AWS,
        GITHUB,
        GITHUB_FINE,
        GITLAB,
        GOOGLE,
        HF,
        JWT,
        NPM,
        OPENAI,
        SLACK,
        STRIPE,
        WANDB,
    )

    redactor = Redactor(environ={"WANDB_API_KEY": WANDB})
    secrets = [ANTHROPIC, AWS, GITHUB, GITHUB_FINE, GITLAB, GOOGLE, HF, JWT, NPM, OPENAI, SLACK,
               STRIPE, WANDB, "https://bob:hunter2@example.com/x", "Authorization: token abc123",
               "AUTHORIZATION: Basic dXNlcjpwYXNz", "Bearer abcdef123456",
               "ya29.a0AfH6SMBx1234567890abcdefgh",
               "SG.abcdefghijklmnop.qrstuvwxyz012345", "r8_abcdefghijklmnopqrstuvwxyz01234",
               "pypi-AgEIcHlwaS5vcmcCJGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6MDEyMzQ1Njc4OQ",
               "https://hooks.slack.com/services/T000/B000/XXXX",
               "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----"]
    filler = "epoch 3 step 1200 loss=0.3127 grad_norm=1.25 weight_decay=0.01 high lr\n" * 50
    for secret in secrets:
        text = f"{filler}value: {secret} end\n{filler}"
        assert redactor.shapes(text, command_lines=False) != text, secret  # the log masks it
        assert redactor.may_hold_secret(text.encode()), secret  # so never the fast path
    assert not redactor.may_hold_secret((filler * 20).encode())


def test_a_private_key_on_a_long_line_cut_inside_its_header_is_masked() -> None:
    """A service-account JSON line over 64 KiB whose key header straddles the point where the
    line is written out (the header has spaces: the hold-back of the last word alone would cut
    it in two)."""
    key = ("-----BEGIN RSA PRIVATE KEY-----\\nMIIEowIBAAKCAQEA7s3cr3tK3yB0dy"
           "\\n-----END RSA PRIVATE KEY-----\\n")
    head = b'{"pad": "' + b"y " * ((MAX_PENDING - 20) // 2) + b'", "private_key": "'
    mask = masker()
    out = mask.feed(head + key[:14].encode(), 1.0)      # "-----BEGIN RSA" in the first piece
    out += mask.due(2.0)
    out += mask.feed(key[14:].encode() + b'"}\n', 2.1) + mask.flush()
    assert b"MIIEow" not in out and b"***" in out


def test_a_token_cut_between_two_writes_to_stdout_with_stderr_between_is_masked(
        repo: Path) -> None:
    """stdout's partial line is not ended by a line on stderr: each stream is masked apart."""
    script = ("import os, time\n"
              f"os.write(1, b'token={GITHUB[:20]}')\n"
              "os.write(2, b'progress 50%\\n')\n"
              f"os.write(1, b'{GITHUB[20:]} done\\n')\n")
    done = journal("new", "-q", "--", sys.executable, "-c", script, cwd=repo)
    assert done.returncode == 0, done.stderr
    record = only_record(repo / ".journal")
    log = (repo / ".journal" / record["log"]["path"]).read_bytes()
    assert GITHUB[:12].encode() not in log and b"token=*** done\n" in log


def test_a_secret_with_spaces_or_a_header_awaiting_its_token_waits_whole() -> None:
    """A known value with spaces in it, or `Authorization: Bearer ` whose token comes after a
    pause, is not cut at its last space (the hold-back of the last word alone would)."""
    phrase = "correct horse battery staple"
    mask = masker(phrase)
    out = mask.feed(b"slow: correct h", 0.0) + mask.due(0.9)
    out += mask.feed(b"orse battery staple\n", 1.0) + mask.flush()
    assert out == b"slow: ***\n"
    header = masker()
    out = header.feed(b"Authorization: Bearer ", 0.0) + header.due(0.9)
    out += header.feed(b"abcdefghij0123456789\n", 1.0) + header.flush()
    assert b"abcdefghij" not in out and b"***" in out


def test_a_path_in_a_credential_named_variable_is_no_secret() -> None:
    """The shell's PWD is named like a password (`pwd`): its folder must stay readable."""
    found = known_secrets([], [], {"PWD": "/home/ana/project", "DB_PASSWORD": "hunter2hunter2"},
                          Redactor())
    assert found == ["hunter2hunter2"]
