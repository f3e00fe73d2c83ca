"""Timestamps: the API speaks milliseconds since the epoch, scripts read aware datetimes."""

from __future__ import annotations

from datetime import datetime


def ms_to_datetime(timestamp_ms: int | float | None) -> datetime | None:
    """An aware datetime in the local time zone, or None for a missing or zero timestamp."""
    if not timestamp_ms or timestamp_ms <= 0:
        return None
    return datetime.fromtimestamp(timestamp_ms / 1000).astimezone()


def to_ms(value: int | datetime | None) -> int | None:
    """Milliseconds since the epoch from a datetime (naive means local time) or an int."""
    if value is None or isinstance(value, int):
        return value
    return int(value.timestamp() * 1000)
