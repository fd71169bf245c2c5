"""How long a run took, as people write it: one formatter for every command that shows a duration."""

from __future__ import annotations


def human_duration(seconds: float, *, compact: bool = False) -> str:
    """12.5s, 3m 05s, 3h 30m 12s (25h 01m 01s past a day). `compact` keeps two units past an hour
    (3h 30m, 1d 1h) so a `journal list` column stays narrow."""
    seconds = abs(float(seconds))
    if seconds < 59.95:        # what would not print as "60.0s"
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if not compact:
        return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"
