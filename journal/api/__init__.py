"""The Python API for research scripts (`journal.start`, `run.log`, `journal.logger`): see
journal/api/run.py. `journal/__init__.py` hands these names on when they are first used."""

from journal.api.run import Run, current_run, log, logger, start

__all__ = ["Run", "current_run", "log", "logger", "start"]
