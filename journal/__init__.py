"""journal: a git-integrated experiment journal.

    import journal
    run = journal.start(note="why this run", params=args)
    run.log(step=step, loss=loss)
    log = journal.logger()

Importing this package must stay cheap: it is imported by every `journal` command and by
research scripts, so it imports nothing at all; the API (journal.api) loads on first use of
one of its names.
"""

__version__ = "0.1.0"
__all__ = ["Run", "current_run", "log", "logger", "start"]

_API = frozenset(__all__)
TYPE_CHECKING = False     # typing costs a few ms to import; type checkers treat this name as True
if TYPE_CHECKING:
    from journal.api import Run, current_run, log, logger, start


def __getattr__(name: str) -> object:
    if name in _API:
        from journal import api

        return getattr(api, name)
    raise AttributeError(f"module 'journal' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
