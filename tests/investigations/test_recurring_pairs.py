"""A run takes the (host, peer) pairs its investigation's earlier windows recorded
(`outbound_pairs` of their detections results) as recurring destinations: only succeeded
runs of the same investigation whose window ended by the time its own starts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.urls import reverse

from investigations.models import QueryRun, RunResult
from investigations.runs.context import RunContext
from investigations.runs.recurring import earlier_outbound_pairs
from tests.conftest import client_for
from tests.factories import InvestigationFactory

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)
MONDAY = datetime(2026, 11, 30, tzinfo=UTC)


def _run(investigation: Any, start: datetime | None, status: str = "succeeded",
         pairs: list[list[str]] | None = None) -> QueryRun:  # fmt: skip
    run = QueryRun.objects.create(
        investigation=investigation,
        requested_by=investigation.owner,
        analyses=["detections"],
        window_start=start,
        window_end=None if start is None else start + DAY,
    )
    QueryRun.objects.filter(pk=run.pk).update(status=status)
    if pairs is not None:
        RunResult.objects.create(
            run=run, analysis="detections", title="Detections", summary={"outbound_pairs": pairs}
        )
    run.refresh_from_db()
    return run


def test_pairs_of_earlier_windows_are_recurring(investigation: Any) -> None:
    _run(investigation, MONDAY, pairs=[["10.0.2.30", "93.184.216.34"]])
    _run(
        investigation,
        MONDAY + DAY,
        pairs=[["10.0.2.30", "93.184.216.34"], ["10.0.2.31", "1.2.3.4"]],
    )
    # Not earlier: the same window, a later one, a failed run, another investigation's run.
    _run(investigation, MONDAY + 2 * DAY, pairs=[["10.0.2.12", "185.220.101.7"]])
    _run(investigation, MONDAY + 3 * DAY, pairs=[["10.0.2.13", "185.220.101.8"]])
    _run(investigation, MONDAY, status="failed", pairs=[["10.0.2.14", "185.220.101.9"]])
    other = InvestigationFactory(owner=investigation.owner)
    _run(other, MONDAY, pairs=[["10.0.2.15", "185.220.101.10"]])

    now = _run(investigation, MONDAY + 2 * DAY, status="queued")
    # Most recent window first, each pair once.
    assert earlier_outbound_pairs(now) == [
        ["10.0.2.30", "93.184.216.34"],
        ["10.0.2.31", "1.2.3.4"],
    ]
    params = RunContext.for_run(now).params
    assert params.recurring_pairs == [("10.0.2.30", "93.184.216.34"), ("10.0.2.31", "1.2.3.4")]


def test_a_run_without_a_window_has_no_earlier_pairs(investigation: Any) -> None:
    _run(investigation, MONDAY, pairs=[["10.0.2.30", "93.184.216.34"]])
    upload = _run(investigation, None, status="queued")
    assert earlier_outbound_pairs(upload) == []
    assert RunContext.for_run(upload).params.recurring_pairs == []


def test_recurring_candidates_are_named_on_the_run_page(investigation: Any, analyst: Any) -> None:
    run = _run(investigation, MONDAY)
    RunResult.objects.create(
        run=run,
        analysis="detections",
        title="Detections",
        columns=["type", "title"],
        summary={
            "findings": 0,
            "recurring_left_out": [
                {"title": "8,400,000,000 bytes sent to 93.184.216.34, a recurring destination",
                 "peer": "93.184.216.34", "hosts": ["10.0.2.30"], "bytes": 8_400_000_000,
                 "days": 7, "seen_in_earlier_runs": False},
                {"title": "900,000,000 bytes sent to 1.2.3.4, a recurring destination",
                 "peer": "1.2.3.4", "hosts": ["10.0.2.31"], "bytes": 900_000_000,
                 "days": 1, "seen_in_earlier_runs": True},
            ],
        },
    )  # fmt: skip
    page = client_for(analyst).get(reverse("investigations:run_detail", args=[run.pk]))
    html = " ".join(page.content.decode().split())
    assert "2 candidates left out as recurring destinations" in html
    assert "8,400,000,000 bytes sent to 93.184.216.34, a recurring destination (7 days)" in html
    assert "900,000,000 bytes sent to 1.2.3.4, a recurring destination (earlier runs)" in html
