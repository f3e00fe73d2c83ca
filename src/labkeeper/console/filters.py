"""Jinja2 filters for the console's values: times, durations, sizes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson


def when(ms: Any) -> str:
    """A store time (ms since the epoch) as UTC text; 0 or nothing as a dash."""
    if not isinstance(ms, int | float) or ms <= 0:
        return "—"
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def duration(ms: Any) -> str:
    if not isinstance(ms, int | float) or ms < 0:
        return "—"
    seconds = int(ms // 1000)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def mib(value: Any) -> str:
    if not isinstance(value, int | float):
        return "—"
    return f"{value / (1024 * 1024):.1f} MiB"


def size(value: Any) -> str:
    """A size in bytes, in the largest unit that keeps it above 1."""
    if not isinstance(value, int | float) or value < 0:
        return "—"
    if value < 1024:
        return f"{int(value)} B"
    if value < 1024 * 1024:
        return f"{value / 1024:.1f} KiB"
    return mib(value)


def pretty_json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()


FILTERS = {"when": when, "duration": duration, "mib": mib, "size": size, "pretty_json": pretty_json}
