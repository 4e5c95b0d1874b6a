"""Time windows for flow records: parsing user-given times and testing overlap."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_RELATIVE = re.compile(r"^(\d+)\s*(s|m|h|d|w|M|y)$")
_UNITS: dict[str, timedelta] = {
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
    "M": timedelta(days=30),
    "y": timedelta(days=365),
}
# Epoch values at or above this are taken as milliseconds (1e11 s is the year 5138).
_EPOCH_MS_THRESHOLD = 100_000_000_000


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Aware UTC copy of `value`; a naive datetime is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_time(value: str | int | float | datetime, now: datetime | None = None) -> datetime:
    """Parse `30m`/`1h`/`3d`/`2w`/`1M`/`1y` (that long before now), ISO 8601, epoch s/ms, `now`."""
    reference = as_utc(now) if now is not None else utc_now()
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, bool):
        raise ValueError(f"not a time: {value!r}")
    if isinstance(value, int | float):
        return _from_epoch(float(value))
    text = value.strip()
    if not text:
        raise ValueError("empty time value")
    if text.lower() == "now":
        return reference
    relative = _RELATIVE.match(text)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        return reference - amount * _UNITS[unit]
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return _from_epoch(float(text))
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise ValueError(
            f"cannot read time {value!r}: use ISO 8601 (2024-05-01T12:00:00Z), epoch seconds or "
            "milliseconds, 'now', or a duration before now such as 30m, 1h, 3d, 2w, 1M, 1y"
        ) from None
    return as_utc(parsed)


def _from_epoch(seconds: float) -> datetime:
    if seconds < 0:
        raise ValueError(f"negative epoch time: {seconds}")
    if seconds >= _EPOCH_MS_THRESHOLD:
        seconds /= 1000
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"epoch time out of range: {seconds}") from None


@dataclass(frozen=True)
class TimeWindow:
    """A UTC time range; either bound may be open (None). A flow is kept if it overlaps it."""

    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            bound = getattr(self, name)
            if bound is not None:
                object.__setattr__(self, name, as_utc(bound))
        if self.start is not None and self.end is not None and self.start > self.end:
            raise ValueError(
                f"time window start {self.start.isoformat()} is after its end "
                f"{self.end.isoformat()}"
            )

    @classmethod
    def build(
        cls,
        start: str | int | float | datetime | None,
        end: str | int | float | datetime | None,
        now: datetime | None = None,
    ) -> TimeWindow:
        """Parse both bounds with `parse_time` (same `now` for both) and check their order."""
        reference = as_utc(now) if now is not None else utc_now()
        return cls(
            None if start is None else parse_time(start, reference),
            None if end is None else parse_time(end, reference),
        )

    @property
    def start_epoch(self) -> int | None:
        # Flow times are whole seconds: round the bounds inwards so overlap stays exact.
        return None if self.start is None else math.ceil(self.start.timestamp())

    @property
    def end_epoch(self) -> int | None:
        return None if self.end is None else math.floor(self.end.timestamp())

    def overlaps(self, start: datetime, end: datetime) -> bool:
        """True when [start, end] shares at least one instant with the window."""
        if self.end is not None and as_utc(start) > self.end:
            return False
        return not (self.start is not None and as_utc(end) < self.start)

    def to_dict(self) -> dict[str, str | None]:
        return {
            "start": None if self.start is None else self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
        }
