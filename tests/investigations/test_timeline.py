"""The investigation's merged timeline: notes, runs, findings and changes in one list, newest
first, paged with "show more"; managers read it too, outsiders never."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from investigations.models import Finding, Note, QueryRun
from investigations.runs.submit import cancel_run
from investigations.services import (
    add_note,
    set_assignee,
    set_finding_status,
    set_investigation_status,
    set_members,
    set_tags,
)
from investigations.timeline import MAX_ENTRIES, PAGE_SIZE, investigation_timeline, timeline_limit
from portal import audit
from tests.conftest import client_for
from tests.factories import InvestigationFactory

pytestmark = pytest.mark.django_db


def _at(minutes: int) -> Any:
    return timezone.now() - timedelta(minutes=minutes)


@pytest.fixture
def story(investigation: Any, analyst: Any, teammate: Any, outsider: Any) -> dict[str, Any]:
    """A day in the life of an investigation, each step at a known time (oldest first)."""
    type(investigation).objects.filter(pk=investigation.pk).update(created_at=_at(60))
    investigation.refresh_from_db()
    ok = QueryRun.objects.create(
        investigation=investigation,
        requested_by=analyst,
        analyses=["ssh-inbound"],
        status="succeeded",
        records={"ok": 12345},
        started_at=_at(50),
        finished_at=_at(49),
    )
    QueryRun.objects.filter(pk=ok.pk).update(created_at=_at(51))
    bad = QueryRun.objects.create(
        investigation=investigation,
        requested_by=teammate,
        analyses=["rejected"],
        status="failed",
        finished_at=_at(40),
        error="The flow log bucket is gone.\nTraceback: hidden",
    )
    QueryRun.objects.filter(pk=bad.pk).update(created_at=_at(41))
    findings = [
        Finding.objects.create(
            investigation=investigation,
            run=ok,
            type=f"Recon:EC2/Portscan{n}",
            severity=severity,
            title=f"Scan {n}",
        )
        for n, severity in enumerate((5, 8.5))
    ]
    Finding.objects.filter(run=ok).update(created_at=_at(49))
    add_note(user=teammate, investigation=investigation, text="Looks like <b>a scan</b>")
    set_finding_status(user=analyst, finding=findings[1], status="false_positive")
    set_assignee(user=analyst, investigation=investigation, assignee=teammate)
    set_tags(user=teammate, investigation=investigation, names=["recon", "web"])
    set_members(user=analyst, investigation=investigation, members=[teammate, outsider])
    queued = QueryRun.objects.create(
        investigation=investigation, requested_by=analyst, analyses=["traffic-summary"]
    )
    cancel_run(user=teammate, run=queued)
    set_investigation_status(user=analyst, investigation=investigation, status="closed")
    return {"ok": ok, "bad": bad, "findings": findings, "queued": queued}


def test_every_kind_of_event_is_merged_newest_first(
    investigation: Any, story: dict[str, Any]
) -> None:
    timeline = investigation_timeline(investigation)
    kinds = [entry.kind for entry in timeline.entries]
    assert kinds[0] == "status"  # the last thing that happened
    assert kinds[-1] == "created"  # the first
    for kind in (
        "note",
        "run_submitted",
        "run_succeeded",
        "run_failed",
        "findings_raised",
        "finding_triaged",
        "assignee",
        "tags",
        "members",
        "cancel_requested",
        "run_cancelled",
    ):
        assert kind in kinds, kind
    times = [entry.at for entry in timeline.entries]
    assert times == sorted(times, reverse=True)
    assert not timeline.has_more


def test_the_page_tells_who_did_what(
    investigation: Any, story: dict[str, Any], analyst: Any
) -> None:
    page = (
        client_for(analyst)
        .get(reverse("investigations:detail", args=[investigation.pk]))
        .content.decode()
    )
    timeline = page[page.index('id="timeline"') :]
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", timeline))
    ok, bad = story["ok"].pk, story["bad"].pk
    assert "bob added a note" in text
    assert "Looks like &lt;b&gt;a scan&lt;/b&gt;" in timeline  # escaped, never markup
    assert f"alice submitted run #{ok}" in text
    assert f"Run #{ok} by alice succeeded" in text and "12,345 records analysed" in text
    assert f"Run #{bad} by bob failed" in text and "The flow log bucket is gone." in text
    assert "Traceback" not in text  # only the first line of the error
    assert f"Run #{ok} raised 2 findings, highest 8.5 high" in text
    assert f"alice marked finding “Scan 1” (run #{ok}) as False positive (was Open)" in text
    assert "alice assigned it to bob" in text
    assert "bob changed the tags added recon web" in text
    assert "alice changed who shares it added mallory" in text
    assert f"bob asked to cancel run #{story['queued'].pk}" in text
    assert "alice closed the investigation" in text
    assert "alice opened the investigation" in text


def test_managers_read_the_timeline_and_outsiders_get_404(
    investigation: Any, story: dict[str, Any], manager: Any, admin_user: Any
) -> None:
    url = reverse("investigations:detail", args=[investigation.pk])
    for reader in (manager, admin_user):
        page = client_for(reader).get(url).content.decode()
        assert "alice assigned it to bob" in re.sub(r"<[^>]+>", "", page)
        assert "Add note" not in page
    other = InvestigationFactory(title="Not theirs")
    assert (
        client_for(story["ok"].requested_by)
        .get(reverse("investigations:detail", args=[other.pk]))
        .status_code
        == 404
    )


def test_events_of_other_investigations_stay_out(
    investigation: Any, analyst: Any, outsider: Any
) -> None:
    other = InvestigationFactory(owner=outsider)
    add_note(user=outsider, investigation=other, text="elsewhere")
    set_tags(user=outsider, investigation=other, names=["elsewhere"])
    run = QueryRun.objects.create(investigation=other, requested_by=outsider, analyses=["x"])
    audit.record(actor=outsider, action="run.cancel_requested", target=run)
    kinds = [entry.kind for entry in investigation_timeline(investigation).entries]
    assert kinds == ["created"]


def test_a_long_timeline_is_paged_with_show_more(investigation: Any, analyst: Any) -> None:
    Note.objects.bulk_create(
        [
            Note(investigation=investigation, author=analyst, text=f"note {n}")
            for n in range(PAGE_SIZE + 10)
        ]
    )
    Note.objects.filter(investigation=investigation).update(created_at=timezone.now())
    client = client_for(analyst)
    url = reverse("investigations:detail", args=[investigation.pk])
    first = client.get(url).content.decode()
    assert first.count('class="tl-note"') == PAGE_SIZE
    assert f'href="?timeline={2 * PAGE_SIZE}#timeline-{PAGE_SIZE + 1}">Show more</a>' in first
    second = client.get(url, {"timeline": 2 * PAGE_SIZE}).content.decode()
    assert second.count('class="tl-note"') == PAGE_SIZE + 10
    assert 'class="tl-created"' in second and "Show more" not in second


def test_the_limit_is_whole_pages_and_bounded() -> None:
    assert timeline_limit(None) == PAGE_SIZE
    assert timeline_limit("banana") == PAGE_SIZE
    assert timeline_limit("-5") == PAGE_SIZE
    assert timeline_limit("51") == 2 * PAGE_SIZE
    assert timeline_limit(str(10**9)) == MAX_ENTRIES


def test_the_cap_is_said_not_silent(
    investigation: Any, analyst: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from investigations import timeline

    monkeypatch.setattr(timeline, "MAX_ENTRIES", 3)
    for n in range(4):
        add_note(user=analyst, investigation=investigation, text=f"note {n}")
    shown = investigation_timeline(investigation, limit=3)
    assert shown.capped and len(shown.entries) == 3
    page = (
        client_for(analyst)
        .get(reverse("investigations:detail", args=[investigation.pk]), {"timeline": "3"})
        .content.decode()
    )
    assert "Only the latest 3 entries are shown here." in page
    assert "Show more" not in page


def test_the_timeline_costs_the_same_queries_however_long_it_is(
    investigation: Any, analyst: Any, django_assert_max_num_queries: Any
) -> None:
    for n in range(30):
        run = QueryRun.objects.create(
            investigation=investigation,
            requested_by=analyst,
            analyses=["x"],
            status="succeeded",
            finished_at=timezone.now(),
        )
        Finding.objects.create(
            investigation=investigation, run=run, type="t", severity=3, title=f"f{n}"
        )
        add_note(user=analyst, investigation=investigation, text=f"note {n}")
        set_tags(user=analyst, investigation=investigation, names=[f"t{n}"])
    with django_assert_max_num_queries(8):
        timeline = investigation_timeline(investigation)
    assert len(timeline.entries) == PAGE_SIZE and timeline.has_more
