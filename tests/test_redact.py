"""Secrets never reach disk: argv, notes, params, environment values and patches are redacted."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import git, journal, make_repo, only_record

from journal.redact import MASK, Redactor

PY = sys.executable
R = Redactor()

# Fake credentials in the shapes real ones have (none of them is live).
OPENAI = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"
ANTHROPIC = "sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe"
GITHUB = "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
GITHUB_FINE = "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"
GITLAB = "glpat-xY1zW2vU3tS4rQ5pO6nM"
HF = "hf_QwErTyUiOpAsDfGhJkLzXcVbNm1234567890"
AWS = "AKIAIOSFODNN7EXAMPLE"
SLACK = "xoxb-1234567890-abcdefghijKLMN"
GOOGLE = "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"
STRIPE = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
NPM = "npm_abcdefghijklmnopqrstuvwxyz0123456789"
JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
       "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")
WANDB = "0123456789abcdef0123456789abcdef01234567"   # 40 hex: only its name gives it away


# --- by name, in argv --------------------------------------------------------------------------

@pytest.mark.parametrize(("argv", "expected"), [
    (["--api-key", "X"], ["--api-key", MASK]),
    (["--api-key=X"], ["--api-key=***"]),
    (["--api_key", "X"], ["--api_key", MASK]),
    (["--apiKey", "X"], ["--apiKey", MASK]),
    (["--APIKEY", "X"], ["--APIKEY", MASK]),
    (["--apitoken", "X"], ["--apitoken", MASK]),
    (["--password", "X"], ["--password", MASK]),
    (["--passwd=X"], ["--passwd=***"]),
    (["--db-password", "p w"], ["--db-password", MASK]),
    (["--secret", "X"], ["--secret", MASK]),
    (["--client-secret", "X"], ["--client-secret", MASK]),
    (["--credentials", "X"], ["--credentials", MASK]),
    (["--auth", "user:pw"], ["--auth", MASK]),
    (["--token", "X"], ["--token", MASK]),
    (["--hf_token", "X"], ["--hf_token", MASK]),
    (["--hf-token", "X"], ["--hf-token", MASK]),
    (["--access-token", "X"], ["--access-token", MASK]),
    (["--private-key", "X"], ["--private-key", MASK]),
    (["-password", "X"], ["-password", MASK]),
    (["--token", "-123"], ["--token", MASK]),            # a negative number is a value too
    (["--token", "--lr", "1"], ["--token", "--lr", "1"]),  # a flag followed by another option
    (["--token"], ["--token"]),
    (["API_KEY=X"], ["API_KEY=***"]),
    (["WANDB_API_KEY=" + WANDB], ["WANDB_API_KEY=***"]),
    (["OPENAI_API_KEY_2=X"], ["OPENAI_API_KEY_2=***"]),
    (["AWS_SECRET_ACCESS_KEY=X"], ["AWS_SECRET_ACCESS_KEY=***"]),
    (["HF_TOKEN=X"], ["HF_TOKEN=***"]),
    (["GITHUB_PAT=X"], ["GITHUB_PAT=***"]),
    (["PASSWORD=with spaces and = signs"], ["PASSWORD=***"]),
    (["db.password=X"], ["db.password=***"]),              # Hydra
    (["+db.password=X"], ["+db.password=***"]),
    (["++wandb.api_key=X"], ["++wandb.api_key=***"]),
    (["--wandb.api_key=X"], ["--wandb.api_key=***"]),
], ids=lambda value: " ".join(value) if isinstance(value, list) else None)
def test_argv_values_of_credential_names_are_masked(argv: list[str], expected: list[str]) -> None:
    assert R.argv(argv) == expected


@pytest.mark.parametrize("argv", [
    ["--key_dim", "64"], ["--key-dim", "64"], ["--max_tokens", "512"], ["--max-new-tokens", "256"],
    ["--num_keys", "3"], ["--n_tokens", "8"], ["--author", "bob"], ["--monkey", "1"],
    ["--tokenizer", "bpe"], ["--lr", "3e-4"], ["--token_dropout", "0.1"],
    ["--warmup_tokens", "375e6"], ["--final_tokens", "260e9"], ["--tokens", "1000"],
    ["--eos_token", "</s>"], ["--pad_token", "<pad>"], ["--sort_key", "loss"],
    ["--rng_key", "0"], ["--metric_key", "val_acc"], ["--key_size", "2048"],
    ["--keyframe", "10"], ["--turkey", "1"], ["--authors", "a,b"], ["--tokens-per-batch", "4096"],
    ["--commit", "0123456789abcdef0123456789abcdef01234567"],
    ["--run-name", "task-classification-experiment-01"],
    ["--out", "runs/sk-baseline-experiment-number-one"],
    ["model.key_dim=64", "max_tokens=512", "optimizer=adam"],
    ["--model", "meta-llama/Llama-2-7b-hf", "--dataset", "hf_internal_testing"],
    ["--id", "123e4567-e89b-12d3-a456-426614174000"],
    ["--url", "https://example.com/a/b?lr=0.1&bs=32"],
    ["--ssh", "ssh://git@github.com:22/org/repo.git"],
    ["--note", "Basic training works; the bearer of good news"],
    ["--eq", "token == 5"],
])
def test_ordinary_ml_arguments_are_kept(argv: list[str]) -> None:
    assert R.argv(argv) == argv


@pytest.mark.parametrize(("name", "secret"), [
    ("api_key", True), ("API_KEY", True), ("apiKey", True), ("OpenAIKey", True),
    ("hf_token", True), ("HF_TOKEN_2", True), ("token", True), ("key", True),
    ("password", True), ("Passphrase", True), ("client_secret", True), ("secrets", True),
    ("auth", True), ("authorization", True), ("cookie", True), ("github_pat", True),
    ("aws_secret_access_key", True), ("awssecretaccesskey", True), ("bot_token", True),
    ("session_token", True), ("x-api-key", True), ("db.password", True),
    ("key_dim", False), ("max_tokens", False), ("num_keys", False), ("author", False),
    ("monkey", False), ("tokenizer", False), ("lr", False), ("tokens", False),
    ("warmup_tokens", False), ("eos_token", False), ("key_size", False), ("keyboard", False),
    ("", False), ("-", False), ("__", False), ("2", False),
])
def test_credential_names(name: str, secret: bool) -> None:
    assert R.is_secret_name(name) is secret


def test_extra_names_add_words_and_phrases() -> None:
    custom = Redactor(extra_names=["Session", "client_id"])
    assert custom.argv(["--session", "abc", "--client-id", "42", "--oauth.client_id=7"]) == [
        "--session", MASK, "--client-id", MASK, "--oauth.client_id=***"]
    assert custom.argv(["--session-name", "abc"]) == ["--session-name", MASK]
    assert custom.argv(["--client", "x", "--id", "3"]) == ["--client", "x", "--id", "3"]
    # the defaults stay on, and a plain Redactor does not know the extra words
    assert custom.argv(["--api-key", "X"]) == ["--api-key", MASK]
    assert R.argv(["--session", "abc", "--client-id", "42"]) == ["--session", "abc", "--client-id", "42"]


def test_extra_values_are_patterns_masked_anywhere() -> None:
    custom = Redactor(extra_values=[r"mycorp_[0-9a-f]{8}"])
    assert custom.text("use mycorp_deadbeef now") == "use *** now"
    assert custom.argv(["--x", "a-mycorp_0badf00d-b"]) == ["--x", "a-***-b"]
    assert R.text("use mycorp_deadbeef now") == "use mycorp_deadbeef now"


# --- by shape, anywhere ------------------------------------------------------------------------

@pytest.mark.parametrize("token", [
    OPENAI, ANTHROPIC, GITHUB, "gho_" + GITHUB[4:], "ghs_" + GITHUB[4:], GITHUB_FINE, GITLAB, HF,
    AWS, "ASIAIOSFODNN7EXAMPLE", SLACK, "xoxp-1234567890-abcdefghij", GOOGLE, STRIPE, NPM, JWT,
    "ya29.a0AfH6SMBx1234567890abcdefghij", "r8_abcdefghijklmnopqrstuvwxyz0123456789",
])
def test_token_shapes_are_masked_wherever_they_appear(token: str) -> None:
    assert R.text(f"key was {token}, then") == "key was ***, then"
    assert R.text(token) == MASK
    assert R.argv(["--init", token, f"--x={token}", f"pre:{token}"]) == [
        "--init", MASK, "--x=***", "pre:***"]
    assert R.mapping({"resume_from": token, "tags": ["a", token]}) == {
        "resume_from": MASK, "tags": ["a", MASK]}


def test_token_shapes_need_a_word_start() -> None:
    assert R.text("runs/task-classification-experiment-01") == "runs/task-classification-experiment-01"
    assert R.text("x" + AWS) == "x" + AWS
    assert R.text("/data/" + AWS + "/y") == "/data/***/y"


def test_private_key_block_is_masked_whole() -> None:
    note = ("before\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
            "QyNTUxOQAAACDx\n-----END OPENSSH PRIVATE KEY-----\nafter")
    assert R.text(note) == "before\n***\nafter"
    truncated = "x -----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nmore"
    assert R.text(truncated) == "x ***"


@pytest.mark.parametrize(("url", "expected"), [
    ("https://user:pass@host/x", "https://user:***@host/x"),
    ("postgres://alice:s3cr3t@db.example.com:5432/exp", "postgres://alice:***@db.example.com:5432/exp"),
    ("postgresql+psycopg2://u:p@h/db", "postgresql+psycopg2://u:***@h/db"),
    ("mysql://root:p:w@localhost", "mysql://root:***@localhost"),
    ("mongodb+srv://u:pa@ss@cluster0.example.net/?retryWrites=true",
     "mongodb+srv://u:***@cluster0.example.net/?retryWrites=true"),
    ("redis://:onlypass@cache:6379/0", "redis://:***@cache:6379/0"),
    ("amqp://guest:guest@rabbit", "amqp://guest:***@rabbit"),
    ("https://host/x?user=a:b@c", "https://host/x?user=a:b@c"),
    ("ssh://git@github.com/org/repo", "ssh://git@github.com/org/repo"),
    ("https://example.com:8443/path", "https://example.com:8443/path"),
    ("see http://u:p@a and ftp://v:q@b.", "see http://u:***@a and ftp://v:***@b."),
])
def test_url_passwords(url: str, expected: str) -> None:
    assert R.text(url) == expected
    assert R.argv(["--db", url]) == ["--db", expected]


@pytest.mark.parametrize(("header", "expected"), [
    ("Authorization: Bearer abc.def-ghi", "Authorization: Bearer ***"),
    ("authorization: bearer abc123", "authorization: bearer ***"),
    ("AUTHORIZATION:Token abc123", "AUTHORIZATION:Token ***"),
    ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic ***"),
    ("Proxy-Authorization: Basic dXNlcjpwYXNz", "Proxy-Authorization: Basic ***"),
    ("Authorization: abc123", "Authorization: ***"),
    ("curl -H 'Authorization: Bearer xyz' https://api", "curl -H 'Authorization: Bearer ***' https://api"),
    ("Bearer xxx", "Bearer ***"),
    ("X-Api-Key: abc123", "X-Api-Key: ***"),
    ("Private-Token: abc123", "Private-Token: ***"),
    ("Cookie: session=abc", "Cookie: ***"),
    ("Content-Type: application/json", "Content-Type: application/json"),
])
def test_authorization_headers(header: str, expected: str) -> None:
    assert R.text(header) == expected
    assert R.argv(["-H", header]) == ["-H", expected]


# --- names inside one string (what wandb's argv capture leaks) ---------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("export FOO=1 WANDB_API_KEY=" + WANDB + "; python train.py --lr 3e-4",
     "export FOO=1 WANDB_API_KEY=***; python train.py --lr 3e-4"),
    ("HF_TOKEN='a b c' python x.py", "HF_TOKEN='***' python x.py"),
    ('API_KEY="a b" python x.py', 'API_KEY="***" python x.py'),
    ("python x.py --password hunter2 --lr 1", "python x.py --password *** --lr 1"),
    ("python x.py --api-key=abc --max_tokens 5", "python x.py --api-key=*** --max_tokens 5"),
    ("https://api.example.com/v1?api_key=abc&lr=1", "https://api.example.com/v1?api_key=***&lr=1"),
    ("https://h/cb#access_token=abc&state=x", "https://h/cb#access_token=***&state=x"),
    ("--url=https://h/?token=abc", "--url=https://h/?token=***"),
    ('{"api_key": "abc", "lr": 0.1}', '{"api_key": "***", "lr": 0.1}'),
    ("{'password': 'x y', 'bs': 32}", "{'password': '***', 'bs': 32}"),
    ('{"token": "a\\"b", "x": 1}', '{"token": "***", "x": 1}'),
    ("client(api_key = abc)", "client(api_key = ***"),    # a value runs to a space or quote
    ("password: hunter2", "password: ***"),
])
def test_credential_names_inside_one_string(text: str, expected: str) -> None:
    assert R.text(text) == expected
    assert R.argv(["sh", "-c", "cd /w && " + text]) == ["sh", "-c", "cd /w && " + expected]


def test_an_argument_starting_with_a_credential_name_is_masked_to_its_end() -> None:
    assert R.argv(["HF_TOKEN='a b c' python x.py"]) == ["HF_TOKEN=***"]


def test_shell_string_secret_never_survives_into_params() -> None:
    # `sh -c "X=1 API_KEY=abc"` parses as param X = "1 API_KEY=abc": the value is checked too
    assert R.mapping({"X": "1 API_KEY=abc"}) == {"X": "1 API_KEY=***"}


@pytest.mark.parametrize("text", [
    "export FOO=1 WANDB_API_KEY=abc; python t.py --password hunter2",
    "Authorization: Bearer abc; " + OPENAI + " postgres://u:p@h/x --token t",
    "{'password': 'x'} HF_TOKEN=y",
    "nothing to see here",
])
def test_redaction_is_idempotent(text: str) -> None:
    once = R.text(text)
    assert once != text or text == "nothing to see here"
    assert R.text(once) == once
    assert R.argv(R.argv(["a", text])) == R.argv(["a", text])


def test_an_ordinary_note_is_left_as_written() -> None:
    note = ("# Adam instead of SGD\n\nlr=3e-4, `--batch-size 32`, max_tokens=512, key_dim=64.\n"
            "Result: acc 82.476% (see https://wandb.ai/team/proj/runs/abc?workspace=me).\n"
            "- commit 0123456789abcdef0123456789abcdef01234567\n- tokenizer: bpe; author: bob\n"
            "- {\"lr\": 0.1, \"warmup_tokens\": 375e6}\n")
    assert R.text(note) == note


@pytest.mark.parametrize("text", [
    "a=" * 50_000, "token=" * 50_000, "--a " * 50_000, "sk-" * 50_000, "a: " * 50_000,
    '"a": ' * 50_000, "://u:" + "@" * 50_000, "x" * 1_000_000,
])
def test_redaction_time_is_linear_in_the_text(text: str) -> None:
    # Quadratic scanning took minutes on `a=a=a=...` of this size; linear takes milliseconds.
    started = time.perf_counter()
    R.text(text)
    R.argv([text])
    assert time.perf_counter() - started < 3.0


# --- mappings: params, metrics, environment ----------------------------------------------------

def test_mapping_masks_by_name_and_shape_and_keeps_types() -> None:
    params = {
        "lr": 0.0003, "batch_size": 32, "fp16": True, "api_key": "abc", "token": 12345,
        "use_auth_token": True, "password": None, "db": "postgres://u:p@h/x", "note": "ok",
        "max_tokens": 512, "key_dim": 64,
    }
    assert R.mapping(params) == {
        "lr": 0.0003, "batch_size": 32, "fp16": True, "api_key": MASK, "token": MASK,
        "use_auth_token": True, "password": None, "db": "postgres://u:***@h/x", "note": "ok",
        "max_tokens": 512, "key_dim": 64,
    }


def test_mapping_reaches_into_nested_tables_and_lists() -> None:
    config = {"wandb": {"api_key": "abc", "project": "p"}, "hosts": ["a", "https://u:pw@h", OPENAI],
              "secrets": {"a": 1}, "deep": {"deeper": {"hf_token": "x", "tuple": ("t", GITHUB)}}}
    assert R.mapping(config) == {
        "wandb": {"api_key": MASK, "project": "p"}, "hosts": ["a", "https://u:***@h", MASK],
        "secrets": MASK, "deep": {"deeper": {"hf_token": MASK, "tuple": ["t", MASK]}}}


def test_environment_is_masked_by_value_not_only_by_name() -> None:
    # Guild filters environment variables by name only and keeps *_API_KEY values; a job name can
    # hold a token too.
    env = {"WANDB_API_KEY": WANDB, "SLURM_JOB_NAME": f"train-{GITHUB}", "CUDA_VISIBLE_DEVICES": "0,1",
           "HF_TOKEN": HF, "DATABASE_URL": "postgres://u:pw@h/db", "OMP_NUM_THREADS": "8"}
    assert R.mapping(env) == {"WANDB_API_KEY": MASK, "SLURM_JOB_NAME": "train-***",
                              "CUDA_VISIBLE_DEVICES": "0,1", "HF_TOKEN": MASK,
                              "DATABASE_URL": "postgres://u:***@h/db", "OMP_NUM_THREADS": "8"}


# --- patches -----------------------------------------------------------------------------------

def _diff(repo: Path) -> bytes:
    done = subprocess.run(["git", "-c", "core.quotepath=on", "diff", "--no-color", "--no-ext-diff",
                           "--src-prefix=a/", "--dst-prefix=b/", "HEAD"],
                          cwd=repo, capture_output=True, check=True)
    return done.stdout


def _apply(repo: Path, patch: bytes) -> None:
    git(repo, "checkout", "-q", "--", ".")
    subprocess.run(["git", "apply", "-"], cwd=repo, input=patch, check=True, capture_output=True)


def test_patch_masks_only_added_lines_names_files_and_still_applies(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {
        "train.py": f"old = '{GITHUB}'\nkeep = 1\n",
        "sp ace.txt": "a\n",
        "déjà.txt": "x\n",
        "clean.py": "x = 1\n",
    })
    (repo / "train.py").write_text(f"new = '{OPENAI}'\nkeep = 1\ntoken = args.token\n")
    (repo / "sp ace.txt").write_text("a\nurl = 'https://u:pw@h/x'\n")
    (repo / "déjà.txt").write_text(f"x\n{HF}\n")
    (repo / "clean.py").write_text("x = 2\n")
    patch = _diff(repo)
    assert b'+++ "b/d\\303\\251j\\303\\240.txt"' in patch and b"+++ b/sp ace.txt\t" in patch
    masked, touched = R.patch(patch)
    assert touched == ["d\u00e9j\u00e0.txt", "sp ace.txt", "train.py"]
    # the removed line keeps the committed text so the patch applies; added secrets are gone
    assert f"-old = '{GITHUB}'".encode() in masked
    for secret in (OPENAI, "pw@", HF):
        assert secret.encode() not in masked
    assert b"+token = args.token\n" in masked          # code is not a secret: shapes only
    assert masked.replace(b"***", b"") != patch.replace(b"***", b"")
    _apply(repo, masked)
    assert (repo / "train.py").read_text() == "new = '***'\nkeep = 1\ntoken = args.token\n"
    assert (repo / "sp ace.txt").read_text() == "a\nurl = 'https://u:***@h/x'\n"
    assert (repo / "déjà.txt").read_text() == "x\n***\n"
    assert (repo / "clean.py").read_text() == "x = 2\n"


def test_patch_without_secrets_is_returned_byte_exact(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"a.txt": "x\n"})
    (repo / "a.txt").write_bytes(b"x\n\xff\xfe not utf-8 \x1b[31m\n")
    patch = _diff(repo)
    assert R.patch(patch) == (patch, [])


def test_patch_added_line_starting_with_plus_plus_space_is_still_checked() -> None:
    # `++ x` added becomes `+++ x` in the diff: counting hunk lines keeps it from being a header
    patch = (b"diff --git a/n.md b/n.md\n--- a/n.md\n+++ b/n.md\n@@ -1 +1,3 @@\n one\n"
             b"+++ " + GITHUB.encode() + b"\n+two\n")
    masked, touched = R.patch(patch)
    assert masked == (b"diff --git a/n.md b/n.md\n--- a/n.md\n+++ b/n.md\n@@ -1 +1,3 @@\n one\n"
                      b"+++ ***\n+two\n")
    assert touched == ["n.md"]


def test_patch_masks_a_whole_added_private_key_block() -> None:
    patch = (b"diff --git a/k.py b/k.py\nnew file mode 100644\n--- /dev/null\n+++ b/k.py\n"
             b"@@ -0,0 +1,6 @@\n+KEY = '''\n+-----BEGIN RSA PRIVATE KEY-----\n+MIIEowIBAAKCAQEA\n"
             b"+\n+-----END RSA PRIVATE KEY-----'''\n+x = 1\n")
    masked, touched = R.patch(patch)
    assert masked == (b"diff --git a/k.py b/k.py\nnew file mode 100644\n--- /dev/null\n+++ b/k.py\n"
                      b"@@ -0,0 +1,6 @@\n+KEY = '''\n+***\n+***\n+\n+***\n+x = 1\n")
    assert touched == ["k.py"]


def test_patch_of_c_quoted_path_with_escapes() -> None:
    patch = (b'diff --git "a/t\\tb\\"q\\303\\251" "b/t\\tb\\"q\\303\\251"\n--- "a/t\\tb\\"q\\303\\251"\n'
             b'+++ "b/t\\tb\\"q\\303\\251"\n@@ -0,0 +1 @@\n+' + AWS.encode() + b"\n")
    masked, touched = R.patch(patch)
    assert touched == ['t\tb"q\u00e9']
    assert masked.endswith(b"@@ -0,0 +1 @@\n+***\n")


# --- end to end: nothing under .journal/ holds a raw secret ------------------------------------

def _all_bytes(folder: Path) -> bytes:
    return b"\n".join(path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file())


def test_no_secret_reaches_any_journal_file(repo: Path) -> None:
    env = {**os.environ, "SLURM_JOB_NAME": f"train-{GITHUB}", "CUDA_VISIBLE_DEVICES": "0"}
    argv = [PY, "-c", "pass",
            "--api-key", "PLAIN-secret-1", "--password=PLAIN-secret-2", f"WANDB_API_KEY={WANDB}",
            "--hf_token", HF, "--db", "postgres://alice:PLAIN-secret-3@db.example.com:5432/x",
            "--header", "Authorization: Bearer PLAIN-secret-4", "--init", OPENAI,
            "+db.secret=PLAIN-secret-5", "--lr", "3e-4", "--key_dim", "64", "--max_tokens", "512",
            "--author", "bob", "--cmd", f"HF_TOKEN=PLAIN-secret-6 python x.py --token {AWS}"]
    done = journal("new", "-n", f"tried {ANTHROPIC} via https://bob:PLAIN-secret-7@host/x",
                   "-p", "token=PLAIN-secret-8", "-p", "run_url=https://x/?access_token=PLAIN-secret-9",
                   "-m", "acc=0.9", "--", *argv, cwd=repo, env=env)
    assert done.returncode == 0, done.stderr
    stored = _all_bytes(repo / ".journal")
    for secret in ("PLAIN-secret", WANDB, HF, OPENAI, ANTHROPIC, GITHUB, AWS):
        assert secret.encode() not in stored, secret
    record = only_record(repo / ".journal")
    assert record["command"] == [
        PY, "-c", "pass", "--api-key", MASK, "--password=***", "WANDB_API_KEY=***",
        "--hf_token", MASK, "--db", "postgres://alice:***@db.example.com:5432/x",
        "--header", "Authorization: Bearer ***", "--init", MASK, "+db.secret=***",
        "--lr", "3e-4", "--key_dim", "64", "--max_tokens", "512", "--author", "bob",
        "--cmd", "HF_TOKEN=***"]     # an argument starting NAME= is masked to its end
    assert record["params"] == {
        "api_key": MASK, "password": MASK, "WANDB_API_KEY": MASK, "hf_token": MASK,
        "db": "postgres://alice:***@db.example.com:5432/x", "header": "Authorization: Bearer ***",
        "init": MASK, "db.secret": MASK, "lr": 0.0003, "key_dim": 64, "max_tokens": 512,
        "author": "bob", "cmd": "HF_TOKEN=*** python x.py --token ***", "token": MASK,
        "run_url": "https://x/?access_token=***"}
    assert record["metrics"] == {"acc": 0.9}
    assert record["note"] == "tried *** via https://bob:***@host/x"
    assert record["env"] == {"SLURM_JOB_NAME": "train-***", "CUDA_VISIBLE_DEVICES": "0"}


def test_allow_listed_credential_variables_are_recorded_masked(repo: Path) -> None:
    (repo / ".journal").mkdir()
    (repo / ".journal" / "config.toml").write_text(
        '[env]\nallow = ["WANDB_API_KEY", "HF_TOKEN", "MY_VAR"]\n[redact]\nnames = ["myvar"]\n')
    env = {**os.environ, "WANDB_API_KEY": WANDB, "HF_TOKEN": "plain-hf-value", "MY_VAR": "plain-mine"}
    done = journal("new", "--", PY, "-c", "pass", "--myvar", "plain-arg", cwd=repo, env=env)
    assert done.returncode == 0, done.stderr
    record = only_record(repo / ".journal")
    assert record["env"] == {"WANDB_API_KEY": MASK, "HF_TOKEN": MASK, "MY_VAR": MASK}
    assert record["command"] == [PY, "-c", "pass", "--myvar", MASK]
    stored = _all_bytes(repo / ".journal")
    for secret in (WANDB, "plain-hf-value", "plain-mine", "plain-arg"):
        assert secret.encode() not in stored, secret


def test_secrets_in_uncommitted_code_are_masked_in_the_patch(repo: Path) -> None:
    (repo / "train.py").write_text(f"print('hello')\nKEY = '{OPENAI}'\n")
    (repo / "settings.py").write_text(f"DB = 'postgres://u:PLAIN-pw@h/db'\nGH = '{GITHUB}'\n")
    done = journal("new", "-n", "dirty", cwd=repo)
    assert done.returncode == 0, done.stderr
    stored = _all_bytes(repo / ".journal")
    for secret in (OPENAI, "PLAIN-pw", GITHUB):
        assert secret.encode() not in stored, secret
    record = only_record(repo / ".journal")
    patch = (repo / ".journal" / record["git"]["patch"]).read_bytes()
    assert b"+KEY = '***'\n" in patch
    assert b"+DB = 'postgres://u:***@h/db'\n+GH = '***'\n" in patch


def test_tags_are_redacted(repo: Path) -> None:
    done = journal("new", "-t", GITHUB, "-n", "x", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert GITHUB.encode() not in _all_bytes(repo / ".journal")


def test_shell_style_env_prefix_does_not_leak_through_the_error(repo: Path) -> None:
    # `journal new -- API_KEY=x python ...` is not a shell: the program is not found, and the
    # error message names argv[0]
    done = journal("new", "--", f"WANDB_API_KEY={WANDB}", PY, "-c", "pass", cwd=repo)
    assert done.returncode == 127
    assert only_record(repo / ".journal")["command"][0] == "WANDB_API_KEY=***"
    assert WANDB.encode() not in _all_bytes(repo / ".journal")


# -- shapes added after a round of attacks (issue 10) -----------------------------------------------

@pytest.mark.parametrize(("argv", "masked"), [
    (["mysql", "-uroot", "-pHunter2pw", "db"], ["mysql", "-uroot", "-p***", "db"]),
    (["mysql", "-p", "db"], ["mysql", "-p", "db"]),                    # -p alone prompts; db is a name
    (["sshpass", "-p", "Hunter2pw", "ssh", "h"], ["sshpass", "-p", "***", "ssh", "h"]),
    (["docker", "login", "-u", "me", "-p", "Hunter2pw"], ["docker", "login", "-u", "me", "-p", "***"]),
    (["curl", "-u", "me:Hunter2pw", "https://h"], ["curl", "-u", "me:***", "https://h"]),
    (["curl", "-ume:Hunter2pw", "https://h"], ["curl", "-ume:***", "https://h"]),
    (["curl", "--user=me:Hunter2pw", "https://h"], ["curl", "--user=me:***", "https://h"]),
    (["train.py", "--pass", "Hunter2pw"], ["train.py", "--pass", "***"]),
    (["train.py", "--top-secret", "Hunter2pw"], ["train.py", "--top-secret", "***"]),
    (["wandb", "login", "0123456789abcdef0123456789abcdef01234567"], ["wandb", "login", "***"]),
    (["python", "-u", "train.py", "--max-password-length", "64"],
     ["python", "-u", "train.py", "--max-password-length", "64"]),      # a count, not a secret
    (["aws", "s3", "cp", "https://b.s3.amazonaws.com/k?X-Amz-Credential=AK%2F1&X-Amz-Signature=abc123",
      "."], ["aws", "s3", "cp", "https://b.s3.amazonaws.com/k?X-Amz-Credential=***&X-Amz-Signature=***",
             "."]),
    (["az", "https://a.blob.core.windows.net/c/f?sv=2021&sig=Zm9vYmFy%3D"],
     ["az", "https://a.blob.core.windows.net/c/f?sv=2021&sig=***"]),
    (["sh", "-c", "mysql -pHunter2pw db && curl -u me:Hunter2pw h && sshpass -p Hunter2pw ssh h"],
     ["sh", "-c", "mysql -p*** db && curl -u me:*** h && sshpass -p *** ssh h"]),
])
def test_more_secret_shapes_in_a_command_line(argv: list[str], masked: list[str]) -> None:
    assert Redactor().argv(argv) == masked


@pytest.mark.parametrize("name", ["PGPASSWORD", "SSHPASS", "PGPASS", "DB_PASS", "MYSQL_PWD",
                                  "top_secret", "X-Amz-Signature", "sig", "pass"])
def test_more_secret_names(name: str) -> None:
    assert Redactor().is_secret_name(name)


@pytest.mark.parametrize("name", ["compass", "passes", "max_password_length", "token_count",
                                  "top_k", "bypass_cache", "signal", "design"])
def test_names_that_stay_plain(name: str) -> None:
    assert not Redactor().is_secret_name(name)


def test_the_new_shapes_stay_out_of_every_file(repo: Path) -> None:
    """Record, log and patch: `-pSECRET`, `curl -u user:SECRET`, a *PASS variable's value
    printed by the program, and credential files of Terraform, Docker and Kubernetes."""
    secret = "Hunter2-very-secret"
    for name in (".envrc", "prod.tfvars", "terraform.tfstate", ".docker/config.json",
                 ".kube/config", "kubeconfig-prod"):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(f"password = {secret}\n")
    script = f"import os; print(os.environ['SSHPASS']); print('-p{secret}')"
    env = {**os.environ, "SSHPASS": secret}
    done = journal("new", "-q", "--", PY, "-c", script, "mysql", f"-p{secret}", "curl", "-u",
                   f"me:{secret}", cwd=repo, env=env)
    assert done.returncode == 0, done.stderr
    assert secret.encode() in done.stdout                    # the terminal still gets it
    for path in (repo / ".journal").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    record = only_record(repo / ".journal")
    assert {".envrc", "prod.tfvars", "terraform.tfstate", ".docker/config.json", ".kube/config",
            "kubeconfig-prod"} <= set(record["git"]["left_out"])


def test_an_exported_credential_is_masked_wherever_its_value_turns_up(repo: Path) -> None:
    """A key exported as WANDB_API_KEY and also pasted into a script, printed by the program and
    quoted in a later note: its shape is unknown, so only its value gives it away."""
    key = "k3y-of-no-known-shape-0123"
    (repo / "train.py").write_text(f"print('hello')\nwandb.login(key='{key}')\n")
    (repo / "deploy.sh").write_text("curl -u alice:Plain-pass-42 https://example.com\n")
    env = {**os.environ, "WANDB_API_KEY": key}
    done = journal("new", "-q", "-n", f"login with {key}", "--", PY, "-c",
                   f"print('using {key}')", cwd=repo, env=env)
    assert done.returncode == 0, done.stderr
    assert key.encode() in done.stdout                        # the terminal still gets it
    run_id = only_record(repo / ".journal")["id"]
    amended = journal("note", run_id, f"rotated {key}", cwd=repo, env=env)
    assert amended.returncode == 0, amended.stderr
    for secret in (key, "Plain-pass-42"):
        assert secret.encode() not in _all_bytes(repo / ".journal"), secret
    record = only_record(repo / ".journal")
    assert record["note"] == "login with ***"
    assert record["amendments"][0]["text"] == "rotated ***"
    patch = (repo / ".journal" / record["git"]["patch"]).read_bytes()
    assert b"+wandb.login(key='***')\n" in patch
    assert b"+curl -u alice:*** https://example.com\n" in patch
    log = (repo / ".journal" / record["log"]["path"]).read_text()
    assert log == "using ***\n"


@pytest.mark.parametrize(("value", "kept"), [
    ("bearer", True), ("/home/me/.netrc", True), ("a b c d e f g h", True), ("abcdefgh", True),
    ("abcdefg1", False), ("abcdefghijklmnop", False),
    # Paths are not looked for: a CI's *_TOKEN_DIR=/check/work/main would mask every command.
    ("/check/work/main", True), ("/scratch/run42/keys", True), ("~/keys/id_ed25519", True),
    ("../secrets/key1.pem", True), ("wJalrXUtnFEMI/K7MDENG/bPxRfiCY", False)])
def test_which_exported_values_are_looked_for_elsewhere(value: str, kept: bool) -> None:
    redactor = Redactor(environ={"SERVICE_TOKEN": value, "PATH": "abcdefghijklmnop1"})
    text = f"x {value} y abcdefghijklmnop1"
    assert (redactor.text(text) == text) is kept


def test_a_secret_in_a_name_is_masked_too() -> None:
    """A token pasted as a param or metric name (`-p ghp_...=2`), or a file named after an
    exported key (`notes-$WANDB_API_KEY.txt`): names are the user's text as well."""
    redactor = Redactor(environ={"WANDB_API_KEY": WANDB})
    masked = redactor.record({"params": {GITHUB: 2, "lr": 0.1}, "metrics": {GITHUB: 1.0},
                              "git": {"commit": "a" * 40, "untracked": [f"notes-{WANDB}.txt"],
                                      "left_out": [f"notes-{WANDB}.txt"], "dirty": True}})
    assert masked["params"] == {MASK: 2, "lr": 0.1} and masked["metrics"] == {MASK: 1.0}
    assert masked["git"] == {"commit": "a" * 40, "untracked": ["notes-***.txt"],
                             "left_out": ["notes-***.txt"], "dirty": True}


def test_a_secret_in_a_binary_file_or_a_file_name_keeps_that_file_out_of_the_patch(
        tmp_path: Path) -> None:
    """A binary patch is base85 of zlib data: no mask can be put in it, so a tracked binary file
    (or a UTF-16 one) that now holds a token is left out of the patch, as is a file whose very
    name is a secret; the record names them (masked)."""
    repo = make_repo(tmp_path / "repo", {"state.bin": "a\0b", "plain.bin": "x\0y",
                                         "settings.ps1": "x".encode("utf-16").decode("latin-1")})
    (repo / "state.bin").write_bytes(b"a\0b " + GITHUB.encode() + b"\0")
    (repo / "settings.ps1").write_bytes(f"$env:TOKEN = '{GITHUB}'".encode("utf-16"))
    (repo / "plain.bin").write_bytes(b"x\0y\1\2\3")
    (repo / f"notes-{WANDB}.txt").write_text("nothing secret inside\n")
    done = journal("new", "-q", "--", "true", cwd=repo, env={**os.environ, "WANDB_API_KEY": WANDB})
    assert done.returncode == 0, done.stderr
    record = only_record(repo / ".journal")
    assert sorted(record["git"]["left_out"]) == ["notes-***.txt", "settings.ps1", "state.bin"]
    patch = (repo / ".journal" / record["git"]["patch"]).read_bytes()
    assert b"plain.bin" in patch and b"GIT binary patch" in patch
    for name in (b"state.bin", b"settings.ps1", WANDB.encode()):
        assert name not in patch
    assert WANDB.encode() not in done.stderr


def test_a_patch_with_no_literal_any_shape_needs_is_passed_whole_and_one_with_one_is_masked(
        ) -> None:
    from journal.redact import Redactor

    clean = b"".join(b"diff --git a/f%d b/f%d\nnew file mode 100644\n--- /dev/null\n+++ b/f%d\n"
                     b"@@ -0,0 +1 @@\n+value %d\n" % (n, n, n, n) for n in range(50))
    assert Redactor().safe_patch(clean) == (clean, [], [])
    token = b"ghp_" + b"A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    dirty = clean + b"diff --git a/s b/s\nnew file mode 100644\n--- /dev/null\n+++ b/s\n" \
        b"@@ -0,0 +1 @@\n+token " + token + b"\n"
    masked, touched, dropped = Redactor().safe_patch(dirty)
    assert token not in masked and touched == ["s"] and dropped == []
    curl = clean + b"diff --git a/c b/c\nnew file mode 100644\n--- /dev/null\n+++ b/c\n" \
        b"@@ -0,0 +1 @@\n+curl -u me:hunter2 https://x\n"
    assert b"hunter2" not in Redactor().safe_patch(curl)[0]
