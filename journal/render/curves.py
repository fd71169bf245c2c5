"""Per-step curves as text: a Unicode sparkline for each series a script logged, for `journal show`
on a terminal (`loss  █▆▄▃▂▂▁▁  0.912 → 0.118, 120 points`)."""

from __future__ import annotations

from collections.abc import Sequence

from journal.text import format_value, printable

BARS = "▁▂▃▄▅▆▇█"
WIDTH = 40


def sparkline(values: Sequence[float], width: int = WIDTH) -> str:
    """`values` in at most `width` bars: each bar the mean of its share of the points, scaled
    between the smallest and the largest mean (a flat series is a flat line)."""
    if not values:
        return ""
    buckets = min(width, len(values))
    means = []
    for index in range(buckets):
        share = values[index * len(values) // buckets:(index + 1) * len(values) // buckets]
        means.append(sum(share) / len(share))
    low, high = min(means), max(means)
    if high == low:
        return BARS[len(BARS) // 2] * buckets
    return "".join(BARS[min(len(BARS) - 1, int((mean - low) / (high - low) * len(BARS)))]
                   for mean in means)


def curve_lines(series: dict[str, list[float]], width: int = WIDTH) -> list[str]:
    """One line a series of two or more points: name, sparkline, first → last, how many."""
    named = [(printable(name), values) for name, values in series.items() if len(values) > 1]
    if not named:
        return []
    pad = max(len(name) for name, _ in named)
    return [f"{name:<{pad}}  {sparkline(values, width)}  {format_value(values[0])} → "
            f"{format_value(values[-1])}, {len(values)} points" for name, values in named]
