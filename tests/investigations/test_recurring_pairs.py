"""A run takes the (host, peer) pairs its investigation's earlier windows recorded
(`outbound_pairs` of their detections results) as recurring destinations: only succeeded
runs of the same investigation whose window ended by the time its own starts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from investigations.models import QueryRun, RunResult
from investigations.runs.context import RunContext
from investigations.runs.recurring import earlier_outbound_pairs
from tests.conftest import client_for, wait_for_run
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


def _flow(src: str, dst: str, sport: int, size: int, start: int) -> str:
    return (
        f"2 1 eni-1 {src} {dst} {sport} 443 6 {max(size // 1400, 1)} {size} {start} "
        f"{start + 60} ACCEPT OK"
    )


def _two_nights() -> bytes:
    """Monday and Tuesday: ten ordinary outside peers each day, the reporting host's 1.5 GB
    export to its partner each night, and on Tuesday night 6 GB to a new destination."""
    lines = []
    for day in range(2):
        base = int((MONDAY + day * DAY).timestamp())
        lines += [_flow("10.0.2.20", f"52.94.{n}.1", 40000 + n, 50_000 + n * 1000, base + 600 + n)
                  for n in range(10)]  # fmt: skip
        lines += [_flow("10.0.2.30", "93.184.216.34", 41000 + n, 375_000_000, base + 3600 + n * 240)
                  for n in range(4)]  # fmt: skip
    tuesday = int((MONDAY + DAY).timestamp())
    lines += [_flow("10.0.2.12", "185.220.101.7", 42000 + n, 500_000_000, tuesday + 72000 + n * 300)
              for n in range(12)]  # fmt: skip
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_a_watch_like_sequence_flags_the_partner_once(
    celery_worker_process: Any, analyst: Any, investigation: Any
) -> None:
    out = StringIO()
    call_command("create_api_token", "--user", analyst.username, "--name", "siem",
                 "--scopes", "read:investigations,write:runs", stdout=out)  # fmt: skip
    client = Client(HTTP_AUTHORIZATION=f"Bearer {out.getvalue().strip()}")

    def run_over(day: int) -> tuple[QueryRun, dict[str, Any]]:
        response = client.post(
            "/api/v1/runs/",
            {
                "investigation": investigation.pk,
                "analyses": ["detections"],
                "start_time": (MONDAY + day * DAY).isoformat(),
                "end_time": (MONDAY + (day + 1) * DAY).isoformat(),
                "files": SimpleUploadedFile("nights.log", _two_nights()),
            },
        )
        assert response.status_code == 202, response.content
        run = wait_for_run(QueryRun.objects.get(pk=response.json()["id"]))
        assert run.status == "succeeded", run.error
        return run, RunResult.objects.get(run=run, analysis="detections").summary

    # Monday: the partner's first night in the investigation is new, so flagged.
    monday, summary = run_over(0)
    assert summary["by_type"] == {"Exfiltration:EC2/UnusualOutboundVolume": 1}
    assert summary["outbound_pairs"] == [["10.0.2.30", "93.184.216.34"]]
    # Tuesday: Monday's window recorded the pair, so the partner is recurring; the new
    # destination that night is the one finding.
    tuesday, summary = run_over(1)
    assert summary["by_type"] == {"Exfiltration:EC2/UnusualOutboundVolume": 1}
    [left_out] = summary["recurring_left_out"]
    assert (left_out["peer"], left_out["seen_in_earlier_runs"]) == ("93.184.216.34", True)
    raised = {(f.run_id, f.evidence["peer"]) for f in investigation.findings.all()}
    assert raised == {(monday.pk, "93.184.216.34"), (tuesday.pk, "185.220.101.7")}
