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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T12:00:00.250Z", datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)),
        ("2024-05-01 12:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01T12:00:00-05:00", datetime(2024, 5, 1, 17, tzinfo=UTC)),
        ("1714564800.5", datetime(2024, 5, 1, 12, 0, 0, 500000, tzinfo=UTC)),
        ("1714564800500", datetime(2024, 5, 1, 12, 0, 0, 500000, tzinfo=UTC)),
        (" NOW ", NOW),
        ("90s", NOW - timedelta(seconds=90)),
        ("12 h", NOW - timedelta(hours=12)),
    ],
)
def test_more_forms_of_time(text: str, expected: datetime) -> None:
    assert parse_time(text, now=NOW) == expected


def test_one_month_is_thirty_days_and_m_is_minutes() -> None:
    assert parse_time("1M", now=NOW) == NOW - timedelta(days=30)
    assert parse_time("1m", now=NOW) == NOW - timedelta(minutes=1)


def test_start_after_end_names_both_times() -> None:
    with pytest.raises(ValueError, match=r"2024-05-01T12:00:00\+00:00 is after its end"):
        TimeWindow.build("2024-05-01T12:00:00Z", "2024-05-01T11:00:00Z")
