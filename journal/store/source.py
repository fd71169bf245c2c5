"""Reading runs back: find records, resolve REFs, select by filters, newest first.

`RunSource` is what every reading command uses. It answers from the derived index when it can
(store/index.py) and from the record files otherwise; both give the same answers, and the files
stay the only source of truth. A record that does not parse is skipped with a warning that names
its file (store/records.py).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from journal.errors import UsageError
from journal.record import StoredRun, flat_params, id_time, is_valid_id
from journal.store.filters import Filters, id_may_match
from journal.store.records import canonical_file, read_record, record_files, second_copy_warning
from journal.text import printable

if TYPE_CHECKING:
    from journal.store.index import Index

_NTH_BEFORE = re.compile(r"(?:@|latest)~(\d+)")
FUTURE_SLACK = dt.timedelta(minutes=5)      # clocks that disagree by less are not "ahead"
NO_INDEX_VARIABLE = "JOURNAL_NO_INDEX"      # "1": read the record files, not the index


NAMES_LOOKED_AT = 5000      # runs whose names a --where that found nothing is checked against


def _close_names(name: str, names: set[str]) -> list[str]:
    """Names that differ from `name` by case, `_` for a space, or a few letters."""
    import difflib

    def plain(text: str) -> str:
        return re.sub(r"[\s_\-]+", "", text.lower())

    alike = sorted(known for known in names if plain(known) == plain(name))
    return alike or difflib.get_close_matches(name, sorted(names), n=3, cutoff=0.6)


class RunSource:
    """The runs of one journal folder."""

    def __init__(self, journal_dir: Path, warn: Callable[[str], None], *,
                 environ: Mapping[str, str], use_index: bool = True,
                 now: Callable[[], dt.datetime] | None = None) -> None:
        self.journal_dir = journal_dir
        self.warn = warn
        self.now = now or (lambda: dt.datetime.now(dt.timezone.utc))
        self.index: Index | None = None
        if journal_dir.exists() and not journal_dir.is_dir():
            raise UsageError(f"the journal folder {printable(str(journal_dir))} is not a folder",
                             hint="JOURNAL_DIR or .journal names a file")
        if use_index and environ.get(NO_INDEX_VARIABLE) != "1":
            from journal.store.index import open_index

            self.index = open_index(journal_dir, warn, environ)
        self._files: dict[str, Path] | None = None

    def unknown_names(self, filters: Filters, sort: str | None = None) -> list[str]:
        """Warnings for the --where names (and the --sort name) that no run has, each with the
        close names that runs do have: `--where Hoge1_Acc>77` finding nothing says why. Looked
        for in the newest NAMES_LOOKED_AT runs, so a typo costs little however large the
        journal."""
        wanted = [(condition.table, condition.name) for condition in filters.where]
        if sort:
            prefix, dot, rest = sort.lstrip("-").partition(".")
            wanted.append((prefix, rest) if dot and prefix in ("params", "metrics")
                          else (None, sort.lstrip("-")))
        if not wanted:
            return []
        known: dict[str, set[str]] = {"metrics": set(), "params": set(), "fields": set()}
        looked_at = 0
        for run in itertools.islice(self.iter_select(Filters()), NAMES_LOOKED_AT):
            looked_at += 1
            record = run.record
            metrics = record.get("metrics")
            known["metrics"].update(metrics if isinstance(metrics, Mapping) else ())
            known["params"].update(flat_params(record))
            known["fields"].update(record)
        said = []
        for table, name in wanted:
            tables = [table] if table else ["metrics", "params", "fields"]
            names = set().union(*(known[table] for table in tables))
            if name in names:
                continue
            what = f"{table[:-1]} " if table else "metric or param "
            close = _close_names(name, names)
            runs = "no run" if looked_at < NAMES_LOOKED_AT else \
                f"none of the newest {NAMES_LOOKED_AT:,} runs"
            said.append(f"warning: {runs} has a {what}named {printable(repr(name))}"
                        + (f"; did you mean {', '.join(printable(repr(name)) for name in close)}?"
                           if close else ""))
        return said

    # -- ids ----------------------------------------------------------------------------------

    def _all_files(self) -> dict[str, Path]:
        if self._files is None:
            found: dict[str, list[Path]] = {}
            for run_id, path in sorted(record_files(self.journal_dir)):
                found.setdefault(run_id, []).append(path)
            self._files = {}
            for run_id, paths in found.items():
                chosen = canonical_file(self.journal_dir, run_id, paths)
                self._files[run_id] = chosen
                for other in paths:
                    if other != chosen:
                        self.warn(second_copy_warning(other, run_id, chosen))
        return self._files

    def ids(self) -> list[str]:
        """Every run id, oldest first."""
        if self.index is not None:
            with self.index.guarded():
                return self.index.ids()
        return list(self._all_files())

    def newest_ids(self, count: int) -> list[str]:
        """The `count` newest run ids, oldest first: `@~N` among a million runs reads N+."""
        if self.index is not None:
            with self.index.guarded():
                return self.index.newest_ids(count)
        return list(self._all_files())[-count:]

    def ids_with_prefix(self, prefix: str) -> list[str]:
        if self.index is not None:
            with self.index.guarded():
                return self.index.ids_with_prefix(prefix)
        return [run_id for run_id in self._all_files() if run_id.startswith(prefix)]

    # -- runs ---------------------------------------------------------------------------------

    def get(self, run_id: str) -> StoredRun | None:
        if self.index is not None:
            with self.index.guarded():
                return self.index.get(run_id)
        path = self._all_files().get(run_id)
        if path is None:
            return None
        record = read_record(path, self.warn)
        return None if record is None else StoredRun(run_id, path, record)

    def select(self, filters: Filters | None = None, limit: int | None = None,
               newest_first: bool = True) -> list[StoredRun]:
        """The runs that pass `filters`, newest first, reading no more records than needed."""
        return list(itertools.islice(self.iter_select(filters, newest_first), limit))

    def iter_select(self, filters: Filters | None = None, newest_first: bool = True, *,
                    summaries: bool = False) -> Iterator[StoredRun]:
        """The same, one run at a time, each record read when it is reached: a command that
        prints runs as they come holds one, however many there are. With `summaries`, a
        record may hold only what a one-line listing reads (`record.summary_of`)."""
        filters = filters or Filters()
        if self.index is not None:
            with self.index.guarded():
                yield from self.index.iter_select(filters, newest_first, summaries=summaries)
            return
        ids = list(self._all_files())
        for run_id in reversed(ids) if newest_first else ids:
            if not id_may_match(run_id, filters):
                continue
            run = self.get(run_id)
            if run is not None and filters.matches(run.record, run.status):
                yield run

    def resolve(self, ref: str) -> StoredRun:
        """A REF: an id, a unique prefix of one, `@`/`latest`, or `@~N` (the N-th before the newest)."""
        run_id = self.resolve_id(ref)
        run = self.get(run_id)
        if run is None:
            raise UsageError(f"run {run_id} cannot be read", hint="see the warning above about its file")
        return run

    def resolve_id(self, ref: str) -> str:
        ref = ref.strip()
        nth = 0
        if ref in ("@", "latest"):
            nth = 0
        elif (match := _NTH_BEFORE.fullmatch(ref)) and len(match[1]) <= 18:
            nth = int(match[1])
        else:
            return self._resolve_prefix(ref)
        ids = self._not_in_the_future(self._newest_started(nth + 1))
        if nth >= len(ids):
            raise UsageError(
                f"there is no run {printable(ref)}: the journal has {len(ids)} run(s)",
                hint="record one with: journal new --note \"...\" -- COMMAND" if not ids else None,
            )
        return ids[-1 - nth]

    def _newest_started(self, count: int) -> list[str]:
        """At least `count` newest ids besides those that start in the future (ids sort by
        start time, so those are the last), or every id when there are not so many."""
        fetch = min(count + 16, 2 ** 62)      # SQLite's integers end at 2**63
        while True:
            ids = self.newest_ids(fetch)
            if len(ids) - self._in_the_future(ids) >= count or len(ids) < fetch:
                return ids
            fetch *= 4

    def _in_the_future(self, ids: list[str]) -> int:
        """How many of `ids`, from the last, start in the future."""
        limit = self.now() + FUTURE_SLACK
        count = 0
        while count < len(ids) and (moment := id_time(ids[-1 - count])) is not None \
                and moment > limit:
            count += 1
        return count

    def _not_in_the_future(self, ids: list[str]) -> list[str]:
        """The ids without those that start in the future (their machine's clock was ahead):
        `@` is the newest run that has started, not one from a wrong clock, which would stay
        `@` after every later run."""
        ahead = self._in_the_future(ids)
        for skipped in reversed(ids[len(ids) - ahead:]):
            started = id_time(skipped)
            self.warn(f"warning: run {skipped} starts in the future ({started:%Y-%m-%d %H:%M} "
                      "UTC; its machine's clock was ahead): @ is the newest run before now")
        return ids[:len(ids) - ahead]

    def _resolve_prefix(self, ref: str) -> str:
        if not ref or not is_valid_id(ref):
            raise UsageError(f"unknown run {printable(repr(ref))}", hint="`journal list` shows the runs")
        candidates = self.ids_with_prefix(ref)
        if ref in candidates:
            return ref
        if not candidates:
            raise UsageError(f"unknown run {printable(repr(ref))}", hint="`journal list` shows the runs")
        if len(candidates) > 1:
            shown = ", ".join(candidates[-10:][::-1]) + (" ..." if len(candidates) > 10 else "")
            raise UsageError(f"ambiguous run {printable(repr(ref))}: {len(candidates)} runs match: {shown}",
                             hint="give more characters of the id")
        return candidates[0]
