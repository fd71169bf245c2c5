"""`journal help TOPIC`: what the options of several commands share, said once (README has the
long form)."""

from __future__ import annotations

TOPICS: dict[str, str] = {
    "refs": """\
REF: how a command names a run

  20261128-074207.123-9ac7188-k3f9qa   a run's id (the UTC start, the commit, a random tail)
  20261128-0742                        a unique prefix of one
  @, latest                            the newest run
  @~1, @~2, ...                        the one before it, and so on
  -                                    the REFs on standard input, the first field of each line

An unknown or ambiguous REF is one error line (ambiguous: the candidates), exit 2.

  journal list -n 0 | peco | journal show -
  journal list -n 0 | fzf --preview 'journal show {1}' | journal show -
  journal list | fzf -m | journal diff - -
""",
    "filters": """\
FILTERS: which runs list, grep, export, compare and plot look at

  --since WHEN, --until WHEN   a time range (a day given to --until is included)
  -t, --tag TAG                runs with this tag (repeatable: all of them)
  -s, --status STATUS          finished, failed, interrupted, killed, crashed, running, note
                               (repeatable: any of them)
  --where NAME OP VALUE        a condition on a metric, else a param (repeatable: all of them);
                               -w is short for it, except in grep (grep's -w: whole words)
  --host HOST, --user USER     the machine that ran it, who ran it (repeatable: any)

WHEN:
  2026-11-23, 2026-11-23T14:00, 2026-11-23T14:00+09:00
  90min, 12h, 3d, 2w, 3mo, 1y, and written out: 2 days ago, 3 weeks
  today, yesterday, monday (the latest one), and phrases: last monday, 30 Nov 2026, Nov 30,
  yesterday 14:00. A bare 1m is refused (a minute, or to git a month): say 1min or 1mo.

--where:
  acc>0.8   opt=adam   params.lr<=1e-3   metrics.loss<0.3   note~leak (a regex)
  OP is one of = != > < >= <= ~. A name may hold spaces (Hoge1 Acc>77), or be quoted:
  "Hoge1 Acc">77, metrics."a<b"=1, with \\" inside. A quoted value is text: seed='42'.
  A name no run has is a warning naming the close ones, when nothing was found.
""",
    "templates": """\
TEMPLATES: the note `journal export` writes

The template is --template FILE, else .journal-template.md at the work tree's root (journal init
writes one), else the built-in default: Markdown with optional YAML front matter.

  {{field}}            the note: since, until, week, generated, runs, notes, finished, failed,
                       interrupted, killed, crashed, running, compute_time, summary, commits
                       a day: day, date, day_runs; a machine: machine, machine_runs,
                       machine_users; a run: id, short_id, note_title, note, status_mark,
                       outcome, started, duration, commit_short_dirty, command_inline,
                       params_table, metrics_table, tags, curves, ... (README lists them all)
  {{metric:acc}}       one value of a run; {{metric:acc:2}} rounded; {{param:optimizer.lr}}
  <!-- each day --> ... <!-- end day -->          repeated for each day
  <!-- each machine --> ... <!-- end machine -->  for each machine (a synced journal)
  <!-- each run --> ... <!-- end run -->          for each run (of the day or machine)
  <!-- each note --> ... <!-- end note -->        for each note-only entry
  <!-- if runs -->, <!-- if no runs -->, <!-- if notes -->, <!-- if commits -->,
  <!-- if no commits --> ... <!-- end if -->
  \\{{                  a literal {{

Nothing is evaluated; each value is escaped for where it lands. An unknown field or a malformed
section is one error naming the template's line.
""",
    "config": """\
CONFIG: settings, all optional

  .journal/config.toml                       this repository's (journal init writes a commented one)
  $XDG_CONFIG_HOME/journal/config.toml       yours, for every repository (~/.config/journal/)

The repository's file is merged over yours: a setting both give is the repository's; the lists
(capture.left_out, redact.names, redact.values, env.allow, metrics.patterns) are joined.

  [capture] untracked_max_bytes, git_timeout, left_out, python_hook
  [redact]  names, values
  [env]     allow
  [metrics] patterns
  [sync]    remote, max_file_bytes
""",
    "environment": """\
ENVIRONMENT: variables journal reads

  JOURNAL_DIR        the journal folder (default: .journal/ at the repository's root)
  JOURNAL_PAGER      the pager for show, diff, compare, tail (else PAGER, else less);
                     empty or cat: none
  LESS               less's options (default FRX, as git sets them)
  NO_COLOR           any value but empty: no colours (--color always still colours)
  JOURNAL_NO_INDEX   1: read the record files, not the index cache
  XDG_CACHE_HOME     where the index cache lives (journal cache lists it)
  XDG_CONFIG_HOME    where your own config.toml lives
  JOURNAL_NOW        the clock, for tests (an ISO time)

A command started by journal new gets JOURNAL_RUN_ID and JOURNAL_DIR.
""",
}


def topic_list() -> str:
    width = max(map(len, TOPICS))
    lines = [f"  {name:<{width}}  {text.splitlines()[0].split(': ', 1)[1]}"
             for name, text in TOPICS.items()]
    return ("journal help TOPIC, one of:\n\n" + "\n".join(lines)
            + "\n\njournal help COMMAND (or journal COMMAND --help) for a command.\n")
