#!/usr/bin/env bash
# A tour of `journal new` in a throw-away research repo: run it with `journal` on PATH.
set -euo pipefail
demo=$(mktemp -d "${TMPDIR:-/tmp}/journal-demo.XXXXXX")
cd "$demo"
git init -q
cat > train.py <<'PY'
import argparse, time
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--batch_size", type=int, default=32)
args = parser.parse_args()
for epoch in range(3):
    print(f"epoch {epoch}: loss {1.0 / (epoch + 1):.3f}", flush=True)
    time.sleep(0.2)
print("-----Final Report------")
print("Hoge1 Acc      : 82.476%")
PY
journal init                                          # .journal/ and .journal-template.md
# Capture the final report's accuracy from the output, with no change to train.py:
cat >> .journal/config.toml <<'TOML'

[metrics]
patterns = ['^(?P<name>[A-Za-z][\w ]*?Acc)\s*:\s*(?P<value>[-+]?[0-9.]+)%']
TOML
git add train.py .journal-template.md
git -c user.name=demo -c user.email=demo@example.com commit -q -m "baseline training script"
sed -i 's/default=0.1/default=0.01/' train.py          # an uncommitted change, captured as a patch

journal new --note "Adam instead of SGD" --tag adam -- python3 train.py --lr 3e-4 --batch_size 32
journal new --note "idea: warm-up may fix the spike at step 2k"
journal new --note "from the cluster" --metric acc=82.476 --param lr=3e-4
cat > fit.py <<'PY'
import math, journal
with journal.start() as run:              # under `journal new`: the same run, its curves kept
    for step in range(300):
        run.log(step=step, loss=2.0 * math.exp(-step / 60) + 0.05, acc=1 - math.exp(-step / 80))
PY
journal new -q --note "per-step curves through the Python API" -- python3 fit.py

echo
echo "== journal list"
journal list
echo
echo "== where did 82.476 come from?  journal grep -F 82.476"
journal grep -F 82.476
echo
echo "== journal show @~3 (the training run, as a Markdown note)"
journal show @~3
echo
echo "== journal show @ (a run that logged its curves: a sparkline each)"
journal show @ | tail -6
echo
echo "== journal plot loss (one metric's curves, several runs: here one)"
COLUMNS=90 LINES=24 journal plot loss
echo
echo "== journal export (the last 7 days as a note for Obsidian, Evernote, Notion)"
journal export
echo
echo "== files in $demo/.journal"
(cd .journal && find . -type f | sort)
echo
echo "== the first record"
cat "$(ls .journal/runs/*/*.toml | head -1)"
echo
echo "== its patch rebuilds the uncommitted state"
cat "$(ls .journal/patches/*.patch | head -1)"
echo
echo "== a second machine: journal sync through a git remote (refs/journal/*, no branch touched)"
git init -q --bare "$demo.remote.git"
git remote add origin "$demo.remote.git"
journal sync
git clone -q "$demo.remote.git" "$demo.laptop" 2>/dev/null
(cd "$demo.laptop" && journal sync && journal note @~3 "checked on the laptop: the 82.476 is this run" && journal sync)
journal sync
journal show @~3 | head -12
