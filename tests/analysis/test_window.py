"""Time parsing and windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from analysis.window import TimeWindow, parse_time

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "before"),
    [
        ("30m", timedelta(minutes=30)),
        ("1h", timedelta(hours=1)),
        ("3d", timedelta(days=3)),
        ("2w", timedelta(weeks=2)),
        ("1M", timedelta(days=30)),
        ("1y", timedelta(days=365)),
        ("now", timedelta(0)),
    ],
)
def test_relative_times_count_back_from_now(text: str, before: timedelta) -> None:
    assert parse_time(text, now=NOW) == NOW - before


def test_iso_times_without_a_zone_are_utc() -> None:
    assert parse_time("2024-05-01T10:00:00", now=NOW) == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert parse_time("2024-05-01", now=NOW) == datetime(2024, 5, 1, tzinfo=UTC)


def test_iso_times_with_a_zone_are_converted_to_utc() -> None:
    assert parse_time("2024-05-01T12:00:00+02:00") == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert parse_time("2024-05-01T12:00:00Z") == datetime(2024, 5, 1, 12, tzinfo=UTC)
    plus_two = datetime(2024, 5, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    assert parse_time(plus_two) == datetime(2024, 5, 1, 10, tzinfo=UTC)


def test_epoch_seconds_and_milliseconds() -> None:
    assert parse_time("1714564800") == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert parse_time("1714564800000") == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert parse_time(1714564800) == datetime(2024, 5, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize("text", ["yesterday", "5x", "", "2024-13-01", "-5"])
def test_it_rejects_unreadable_times(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time(text, now=NOW)


def test_build_rejects_a_start_after_the_end() -> None:
    with pytest.raises(ValueError, match="is after its end"):
        TimeWindow.build("1h", "2h", now=NOW)


def test_build_parses_both_bounds_against_the_same_now() -> None:
    window = TimeWindow.build("2h", "now", now=NOW)
    assert window == TimeWindow(NOW - timedelta(hours=2), NOW)
    assert TimeWindow.build(None, "1d", now=NOW).start is None


def test_a_record_is_kept_when_it_overlaps_the_window() -> None:
    window = TimeWindow(datetime(2024, 5, 1, 10, tzinfo=UTC), datetime(2024, 5, 1, 11, tzinfo=UTC))
    at = lambda hour, minute=0: datetime(2024, 5, 1, hour, minute, tzinfo=UTC)  # noqa: E731
    assert window.overlaps(at(9, 59), at(10, 0))  # touches the start
    assert window.overlaps(at(11, 0), at(11, 1))  # touches the end
    assert window.overlaps(at(9), at(12))  # spans the window
    assert not window.overlaps(at(9), at(9, 59))
    assert not window.overlaps(at(11, 1), at(11, 2))
    assert TimeWindow(None, None).overlaps(at(0), at(1))
