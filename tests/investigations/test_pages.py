"""Investigation and run pages without the worker: forms, validation, rejected uploads."""

from __future__ import annotations

import gzip
import io
import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse

from investigations.models import Investigation, QueryRun
from portal.models import AuditEvent
from tests.conftest import client_for
from tests.flowlogs import sample_upload

pytestmark = pytest.mark.django_db


def _post_run(client: Any, investigation: Any, **overrides: Any) -> Any:
    data = {
        "log_files": sample_upload(),
        "analyses": ["traffic-summary"],
        "top_n": 100,
        "rank_by": "flows",
    }
    data.update(overrides)
    return client.post(reverse("investigations:run_create", args=[investigation.pk]), data)


def test_an_analyst_opens_an_investigation_and_shares_it(analyst: Any, teammate: Any) -> None:
    client = client_for(analyst)
    response = client.post(
        reverse("investigations:create"),
        {"title": "Odd SSH", "description": "Seen by GuardDuty", "members": [teammate.pk]},
    )
    investigation = Investigation.objects.get(title="Odd SSH")
    assert response["Location"] == reverse("investigations:detail", args=[investigation.pk])
    assert investigation.owner == analyst
    assert list(investigation.members.all()) == [teammate]
    event = AuditEvent.objects.get(action="investigation.created")
    assert event.details["members"] == ["bob"]
    assert client_for(teammate).get(response["Location"]).status_code == 200


def test_the_investigation_list_filters_by_text_and_status(analyst: Any) -> None:
    from tests.factories import InvestigationFactory

    InvestigationFactory(owner=analyst, title="Alpha case")
    InvestigationFactory(owner=analyst, title="Beta case", status="closed")
    client = client_for(analyst)
    body = client.get(reverse("investigations:list"), {"q": "alpha"}).content
    assert b"Alpha case" in body and b"Beta case" not in body
    body = client.get(reverse("investigations:list"), {"status": "closed"}).content
    assert b"Beta case" in body and b"Alpha case" not in body


def test_the_run_form_lists_the_analyses(investigation: Any, analyst: Any) -> None:
    body = (
        client_for(analyst)
        .get(reverse("investigations:run_create", args=[investigation.pk]))
        .content
    )
    assert b'value="traffic-summary"' in body
    assert b'value="ssh-inbound"' in body


def test_a_bad_target_address_is_reported_and_nothing_is_queued(
    investigation: Any, analyst: Any
) -> None:
    response = _post_run(client_for(analyst), investigation, target_ips="10.0.1.300")
    assert response.status_code == 400
    assert b"10.0.1.300" in response.content
    assert not QueryRun.objects.exists()


def test_a_start_after_the_end_is_refused(investigation: Any, analyst: Any) -> None:
    response = _post_run(
        client_for(analyst),
        investigation,
        start_time="2026-01-02T00:00",
        end_time="2026-01-01T00:00",
    )
    assert response.status_code == 400
    assert b"The start is after the end" in response.content


def test_missing_analyses_are_refused(investigation: Any, analyst: Any) -> None:
    response = _post_run(client_for(analyst), investigation, analyses=[])
    assert response.status_code == 400
    assert b"Pick at least one analysis" in response.content


@override_settings(FLOWLOG_MAX_UPLOAD_BYTES=100)
def test_an_oversized_upload_gets_413(investigation: Any, analyst: Any) -> None:
    response = _post_run(client_for(analyst), investigation)
    assert response.status_code == 413
    assert b"limit" in response.content
    assert not QueryRun.objects.exists()


@override_settings(FLOWLOG_MAX_UPLOAD_BYTES=10_000)
def test_a_gzip_bomb_is_refused(investigation: Any, analyst: Any, settings: Any) -> None:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb") as out:
        out.write(b"0" * 5_000_000)
    bomb = SimpleUploadedFile("bomb.log.gz", buffer.getvalue())
    response = _post_run(client_for(analyst), investigation, log_files=bomb)
    assert response.status_code == 413
    assert b"decompresses to more than" in response.content
    assert list((settings.UPLOAD_DIR).iterdir()) == [] or not QueryRun.objects.exists()


def test_a_binary_file_is_refused_with_a_reason(investigation: Any, analyst: Any) -> None:
    binary = SimpleUploadedFile("photo.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" * 10)
    response = _post_run(client_for(analyst), investigation, log_files=binary)
    assert response.status_code == 400
    assert b"neither a text flow log, gzip nor Parquet" in response.content


def test_a_queued_run_page_polls_for_progress(investigation: Any, analyst: Any) -> None:
    run = QueryRun.objects.create(
        investigation=investigation, requested_by=analyst, analyses=["traffic-summary"]
    )
    client = client_for(analyst)
    page = client.get(reverse("investigations:run_detail", args=[run.pk]))
    progress_url = reverse("investigations:run_progress", args=[run.pk])
    assert f'hx-get="{progress_url}"'.encode() in page.content
    assert b'hx-trigger="every 1s"' in page.content
    fragment = client.get(progress_url, headers={"HX-Request": "true"})
    assert "HX-Refresh" not in fragment
    assert b'data-status="queued"' in fragment.content


def test_cancelling_a_queued_run_cancels_it_at_once(investigation: Any, teammate: Any) -> None:
    run = QueryRun.objects.create(
        investigation=investigation,
        requested_by=investigation.owner,
        analyses=["traffic-summary"],
    )
    client_for(teammate).post(reverse("investigations:run_cancel", args=[run.pk]))
    run.refresh_from_db()
    assert run.status == "cancelled"
    assert AuditEvent.objects.get(action="run.cancel_requested").actor == teammate


def test_the_generator_command_writes_the_same_bytes_for_the_same_seed(tmp_path: Any) -> None:
    from django.core.management import CommandError, call_command

    first, second = tmp_path / "a.log", tmp_path / "b.log"
    for path in (first, second):
        call_command(
            "generate_flowlogs",
            str(path),
            "--lines",
            "2000",
            "--seed",
            "3",
            "--end",
            "2026-11-01T12:00:00Z",
        )
    assert first.read_bytes() == second.read_bytes()
    assert "203.0.113.50" in first.read_text()  # the planted SSH brute force
    with pytest.raises(CommandError, match="at least 2000 lines"):
        call_command("generate_flowlogs", str(first), "--lines", "10")


def test_paging_keeps_the_filters(analyst: Any) -> None:
    from tests.factories import InvestigationFactory

    for number in range(30):
        InvestigationFactory(owner=analyst, title=f"Case {number}")
    page = client_for(analyst).get(reverse("investigations:list"), {"q": "case"}).content
    assert b'href="?q=case&page=2"' in page
    second = client_for(analyst).get(reverse("investigations:list"), {"q": "case", "page": 2})
    assert b"Page 2 of 2" in second.content


def test_re_run_with_changes_starts_from_the_earlier_run(
    investigation: Any, analyst: Any, manager: Any
) -> None:
    from django.utils import timezone

    run = QueryRun.objects.create(
        investigation=investigation,
        requested_by=analyst,
        status="succeeded",
        analyses=["ssh-inbound", "rejected"],
        window_start=timezone.now(),
        parameters={"target_ips": ["10.0.1.10"], "vpc_cidrs": ["10.0.0.0/16"], "top_n": 25},
    )
    page = client_for(analyst).get(reverse("investigations:run_detail", args=[run.pk]))
    link = f"{reverse('investigations:run_create', args=[investigation.pk])}?from={run.pk}"
    assert link.encode() in page.content
    form = client_for(analyst).get(link).content.decode()
    assert 'value="10.0.1.10"' in form and 'value="10.0.0.0/16"' in form
    assert 'value="25"' in form
    assert re.search(r'value="rejected"[^>]*checked', form)
    assert not re.search(r'value="traffic-summary"[^>]*checked', form)
    assert (
        b"Re-run with changes"
        not in client_for(manager).get(reverse("investigations:run_detail", args=[run.pk])).content
    )


def test_the_list_filters_by_owner_and_update_date(
    analyst: Any, teammate: Any, manager: Any
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from tests.factories import InvestigationFactory

    InvestigationFactory(owner=analyst, title="Alice's case")
    old = InvestigationFactory(owner=teammate, title="Bob's old case")
    Investigation.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(days=40))
    client = client_for(manager)
    body = client.get(reverse("investigations:list"), {"owner": "bob"}).content.decode()
    assert "Bob&#x27;s old case" in body and "Alice" not in body
    since = (timezone.now() - timedelta(days=7)).date().isoformat()
    body = client.get(reverse("investigations:list"), {"since": since}).content.decode()
    assert "Alice&#x27;s case" in body and "Bob" not in body


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\evil.log", "evil.log"),
        ("flow\x00logs.gz", "flowlogs.gz"),
        ("", "upload"),
        ("..", "upload"),
        ("a" * 300 + ".log.gz", "a" * 252 + ".gz"),
    ],
)
def test_upload_names_are_cleaned_for_display(raw: str, shown: str) -> None:
    from investigations.uploads import display_name

    assert display_name(raw) == shown


def test_detections_for_a_target_say_how_many_findings_they_left_out(
    investigation: Any, analyst: Any, tmp_path: Any, settings: Any
) -> None:
    from analysis.demo import generate
    from investigations.runs import pipeline
    from investigations.runs.submit import submit_run

    settings.FLOW_CACHE_DIR = tmp_path / "flowcache"
    settings.WHOIS_ENABLED = False
    path = tmp_path / "demo.log.gz"
    manifest = generate(path, lines=20_000, seed=7, gzip=True)
    web = manifest.instance("web").ip
    upload = SimpleUploadedFile("demo.log.gz", path.read_bytes(), content_type="application/gzip")
    run = submit_run(
        user=analyst,
        investigation=investigation,
        analyses=["detections"],
        files=[upload],
        parameters={"target_ips": [web], "vpc_cidrs": manifest.vpc_cidrs},
    )
    claimed = QueryRun.claim(run.pk)
    assert claimed is not None
    pipeline.execute(claimed)
    claimed.refresh_from_db()
    assert claimed.status == "succeeded", claimed.error
    left_out = claimed.results.get(analysis="detections").summary["not_involving_target"]
    assert left_out > 0
    page = client_for(analyst).get(reverse("investigations:run_detail", args=[run.pk]))
    text = " ".join(page.content.decode().split())
    assert f"{left_out} more findings in the data did not involve the target" in text
