"""Investigation reports: what the Markdown and the PDF say, who may have them, how a worker
renders a large one, and the audit event every export leaves."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from pypdf import PdfReader

from investigations.models import Finding, QueryRun, ResultRow, RunResult
from investigations.reports.models import ReportExport
from investigations.reports.pdf import FetchRefused, _fetcher
from investigations.services import add_note, triage_findings
from portal.models import AuditEvent
from tests.conftest import client_for, wait_for_run
from tests.flowlogs import sample_upload

pytestmark = pytest.mark.django_db

FILE_SHA = "a" * 63 + "1"
T0, T1 = "2026-01-05T10:00:00+00:00", "2026-01-05T10:05:00+00:00"


def _store(run: QueryRun, analysis: str, rows: list[dict[str, Any]], **extra: Any) -> None:
    result = RunResult.objects.create(
        run=run,
        analysis=analysis,
        title=analysis,
        columns=list(rows[0]),
        row_count=len(rows),
        total_groups=len(rows),
        **extra,
    )
    ResultRow.objects.bulk_create(
        ResultRow(result=result, position=i, data=row) for i, row in enumerate(rows)
    )


@pytest.fixture
def seeded(investigation: Any, analyst: Any, teammate: Any) -> Any:
    """An investigation as an auditor meets it: a run that read a file (with its hash), lost
    records to SKIPDATA and skipped malformed lines; two findings, one triaged; a note."""
    run = QueryRun.objects.create(
        investigation=investigation,
        requested_by=analyst,
        status="succeeded",
        analyses=["time-series", "top-talkers", "detections"],
        parameters={"target_ips": ["10.0.1.10"]},
        finished_at=timezone.now(),
        records={
            "total": 120,
            "ok": 100,
            "malformed": 7,
            "nodata": 3,
            "skipdata": 10,
            "filtered_out": 0,
            "skipdata_gaps": [
                {
                    "interface_id": "eni-0abc",
                    "start": "2026-01-05 10:01:00",
                    "end": "2026-01-05 10:02:00",
                    "file": "web-1.log",
                    "line": 42,
                }
            ],
        },
        data_read={
            "files": [{"name": "web-1.log", "bytes": 9000, "lines": 120, "sha256": FILE_SHA}],
            "engine": {"engine": "local", "reason": "the window holds 9 KB"},
            "first_seen": "2026-01-05 10:00:00",
            "last_seen": "2026-01-05 10:05:00",
        },
    )
    _store(
        run,
        "time-series",
        [
            {"time": T0, "action": "ACCEPT", "flows": 3, "packets": 30, "bytes": 5000},
            {"time": T1, "action": "REJECT", "flows": 9, "packets": 9, "bytes": 540},
        ],
        summary={"bin_seconds": 300},
    )
    _store(
        run,
        "top-talkers",
        [
            {
                "ip": "10.0.1.10",
                "flows": 12,
                "packets": 39,
                "bytes": 5540,
                "bytes_sent": 40,
                "bytes_received": 5500,
            },
            {
                "ip": "203.0.113.50",
                "flows": 9,
                "packets": 9,
                "bytes": 540,
                "bytes_sent": 540,
                "bytes_received": 0,
            },
        ],
        summary={"rank_by": "bytes"},
    )
    brute = Finding.objects.create(
        investigation=investigation,
        run=run,
        type="UnauthorizedAccess:EC2/SSHBruteForce",
        severity=8,
        title="SSH brute force from 203.0.113.50 against 10.0.1.10",
        explanation="Many short rejected SSH connections from one address.",
        sighting_count=3,
        last_run=run,
        evidence={
            "peer": "203.0.113.50",
            "targets": ["10.0.1.10"],
            "flows": 9,
            "attack": [{"tactic": "TA0006", "technique": "T1110"}],
        },
    )
    Finding.objects.create(
        investigation=investigation,
        run=run,
        type="Recon:EC2/Portscan",
        severity=5,
        title="Port scan of 10.0.1.10 | sweep",
        evidence={"peer": "198.51.100.9", "ports": [22, 80, 443]},
    )
    triage_findings(
        user=analyst,
        findings=[brute],
        status="acknowledged",
        assignee=teammate,
        comment="Blocked at the NACL",
    )
    add_note(
        user=analyst, investigation=investigation, text="Customer <b>confirmed</b> the window."
    )
    return investigation


def test_the_markdown_report_holds_runs_findings_triage_and_notes(
    seeded: Any, analyst: Any
) -> None:
    response = client_for(analyst).get(f"/investigations/{seeded.pk}/report.md")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/markdown")
    assert f'filename="investigation-{seeded.pk}-report.md"' in response["Content-Disposition"]
    text = response.content.decode()
    assert "# Investigation report: Web tier brute force" in text
    # What the run read, with the file's hash, its coverage gap and malformed count.
    assert f"| web-1.log | 9,000 | 120 | SHA-256 {FILE_SHA} |" in text
    assert "| eni-0abc | 2026-01-05 10:01:00 | 2026-01-05 10:02:00 | web-1.log:42 |" in text
    assert "Malformed lines: 7; SKIPDATA records: 10" in text
    assert "- Engine chosen because: the window holds 9 KB" in text
    # Findings with their triage state, evidence and ATT&CK ids; a pipe cannot break a table.
    assert "### SSH brute force from 203.0.113.50 against 10.0.1.10" in text
    assert "- Triage: Acknowledged; assignee bob" in text
    assert "- Sighted by 3 runs, last by run #" in text
    assert "- Last triage comment: Blocked at the NACL" in text
    assert "TA0006" in text and "T1110" in text
    assert "| Peer | 203.0.113.50 |" in text
    assert "| Ports | 22, 80, 443 |" in text
    assert "Port scan of 10.0.1.10 | sweep" in text
    # The note, its markup neutralised, and the charts drawn as SVG images.
    assert "Customer &lt;b&gt;confirmed&lt;/b&gt; the window." in text
    assert text.count("](data:image/svg+xml;base64,") == 3
    assert "| 10.0.1.10 | 5.4 KB |" in text
    assert "| high | 1 |" in text and "| medium | 1 |" in text
    assert "Triaged “SSH brute force from 203.0.113.50 against 10.0.1.10”" in text


def test_every_export_is_an_audit_event_with_the_files_hash(seeded: Any, manager: Any) -> None:
    response = client_for(manager).get(f"/investigations/{seeded.pk}/report.md")
    assert response.status_code == 200
    event = AuditEvent.objects.get(action="report.exported")
    assert event.actor == manager
    assert event.target_id == str(seeded.pk)
    assert event.details["format"] == "md"
    assert event.details["sha256"] == hashlib.sha256(response.content).hexdigest()
    assert response["X-Content-SHA256"] == event.details["sha256"]


def test_the_pdf_renders_and_its_text_holds_the_findings(seeded: Any, analyst: Any) -> None:
    response = client_for(analyst).get(f"/investigations/{seeded.pk}/report.pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(response.content))
    text = " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)
    assert "SSH brute force from 203.0.113.50 against 10.0.1.10" in text
    assert "Port scan of 10.0.1.10 | sweep" in text
    assert FILE_SHA in text.replace(" ", "")
    assert "Blocked at the NACL" in text
    fonts = {
        str(font.get("/BaseFont", ""))
        for page in reader.pages
        for font in (page["/Resources"].get("/Font") or {}).values()
        for font in [font.get_object()]
    }
    assert any(name.endswith("+DejaVu-Sans") for name in fonts), fonts
    event = AuditEvent.objects.get(action="report.exported")
    assert event.details["sha256"] == hashlib.sha256(response.content).hexdigest()


def test_the_pdf_renderer_fetches_nothing_but_its_fonts() -> None:
    fetcher = _fetcher()
    with pytest.raises(FetchRefused):
        fetcher.fetch("https://example.com/tracker.png")
    with pytest.raises(FetchRefused):
        fetcher.fetch("file:///etc/passwd")
    assert fetcher.fetch("data:text/plain,hi").read() == b"hi"


def test_an_outsider_gets_no_report_and_a_bad_format_is_refused(
    seeded: Any, outsider: Any, analyst: Any
) -> None:
    assert client_for(outsider).get(f"/investigations/{seeded.pk}/report.md").status_code == 404
    assert client_for(analyst).get(f"/investigations/{seeded.pk}/report.docx").status_code == 404
    api = client_for(analyst).get(f"/api/v1/investigations/{seeded.pk}/report/?format=docx")
    assert api.status_code == 400
    assert "format" in api.json()
    assert not AuditEvent.objects.filter(action="report.exported").exists()


def test_the_api_returns_the_pdf_to_a_token_that_may_read_findings(
    seeded: Any, analyst: Any
) -> None:
    from portal.api.tokens import create_token

    _, key = create_token(
        user=analyst, name="auditor", scopes=["read:investigations", "read:findings"], actor=analyst
    )
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = client.get(f"/api/v1/investigations/{seeded.pk}/report/?format=pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert AuditEvent.objects.get(action="report.exported").api_token_id is not None

    _, narrow = create_token(
        user=analyst, name="narrow", scopes=["read:investigations"], actor=analyst
    )
    refused = Client(HTTP_AUTHORIZATION=f"Bearer {narrow}").get(
        f"/api/v1/investigations/{seeded.pk}/report/"
    )
    assert refused.status_code == 403


def test_the_investigation_page_links_to_both_reports(seeded: Any, manager: Any) -> None:
    body = client_for(manager).get(f"/investigations/{seeded.pk}/").content.decode()
    assert f'href="/investigations/{seeded.pk}/report.md"' in body
    assert f'href="/investigations/{seeded.pk}/report.pdf"' in body


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_a_large_investigation_is_rendered_by_a_worker_with_progress(
    celery_worker_process: Any, investigation: Any, analyst: Any, manager: Any, settings: Any
) -> None:
    """A real run first (files hashed by the loader), then a report above the inline threshold:
    the request queues it, a worker renders and stores it, the file is downloadable and audited."""
    client = client_for(analyst)
    response = client.post(
        "/api/v1/runs/",
        {
            "investigation": investigation.pk,
            "analyses": ["traffic-summary", "top-talkers", "time-series", "detections"],
            "target_ips": "10.0.1.10",
            "files": sample_upload(),
        },
    )
    assert response.status_code == 202, response.content[:2000]
    run = wait_for_run(QueryRun.objects.get(investigation=investigation))
    assert run.status == "succeeded", run.error
    uploaded_sha = run.data_read["files"][0]["sha256"]

    settings.REPORT_INLINE_MAX_ITEMS = 0
    queued = client_for(manager).get(f"/investigations/{investigation.pk}/report.md")
    export = ReportExport.objects.get()
    assert queued.status_code == 302
    assert queued["Location"] == f"/investigations/reports/{export.pk}/"
    assert AuditEvent.objects.filter(action="report.requested", actor=manager).exists()
    # Asking again while it renders reuses the same export; once it has finished, a new one is
    # rendered (the worker may be quick enough to finish between the two requests).
    again = client_for(manager).get(f"/investigations/{investigation.pk}/report.md")
    if again["Location"] != queued["Location"]:
        first = ReportExport.objects.get(pk=export.pk)
        newer = ReportExport.objects.exclude(pk=export.pk).get()
        assert first.finished_at is not None and first.finished_at <= newer.created_at
        newer.delete()

    deadline = 120.0
    import time

    start = time.monotonic()
    while export.is_active and time.monotonic() - start < deadline:
        time.sleep(0.2)
        export.refresh_from_db()
    assert export.status == "succeeded", export.error + celery_worker_process.log()[-3000:]
    assert ReportExport.objects.count() == 1
    assert export.progress == 100

    page = client_for(manager).get(f"/investigations/reports/{export.pk}/")
    assert f'href="/investigations/reports/{export.pk}/download/"' in page.content.decode()
    download = client_for(manager).get(f"/investigations/reports/{export.pk}/download/")
    content = b"".join(download.streaming_content)
    assert hashlib.sha256(content).hexdigest() == export.sha256
    assert uploaded_sha in content.decode()
    event = AuditEvent.objects.get(action="report.exported")
    assert event.actor == manager
    assert event.details == {
        "export": export.pk,
        "investigation": investigation.pk,
        "format": "md",
        "sha256": export.sha256,
        "size": len(content),
        "inline": False,
    }
    api = client_for(manager).get(f"/api/v1/reports/{export.pk}/").json()
    assert (
        api["status"] == "succeeded" and api["download"] == f"/api/v1/reports/{export.pk}/download/"
    )


def test_a_pdf_above_its_threshold_is_queued_while_markdown_stays_inline(
    seeded: Any, manager: Any, settings: Any
) -> None:
    settings.REPORT_PDF_INLINE_MAX_ITEMS = 2  # the seeded investigation has 2 findings + 1 run
    client = client_for(manager)
    queued = client.get(f"/investigations/{seeded.pk}/report.pdf")
    export = ReportExport.objects.get()
    assert (
        queued.status_code == 302 and queued["Location"] == f"/investigations/reports/{export.pk}/"
    )
    assert (export.status, export.format, export.requested_by) == ("queued", "pdf", manager)
    page = client.get(queued["Location"]).content.decode()
    assert 'data-status="queued"' in page and "Download" not in page
    assert client.get(f"/investigations/reports/{export.pk}/download/").status_code == 404
    api = client.get(f"/api/v1/investigations/{seeded.pk}/report/?format=pdf")
    assert api.status_code == 202
    assert api.json()["id"] == export.pk and api.json()["download"] is None
    assert client.get(f"/investigations/{seeded.pk}/report.md").status_code == 200
    assert AuditEvent.objects.filter(action="report.requested").count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_demo_investigations_pdf_reads_back_with_every_finding(settings: Any) -> None:
    """`make demo`'s investigation, as seeded (a real run over generated flow logs)."""
    from django.core.management import call_command

    from investigations.management.commands.seed_demo import DEMO_TITLE
    from investigations.models import Investigation

    call_command(
        "seed_demo", "--lines", "3000", "--allow-insecure-demo-users", stdout=io.StringIO()
    )
    demo = Investigation.objects.get(title=DEMO_TITLE)
    titles = list(demo.findings.values_list("title", flat=True))
    assert len(titles) >= 3
    settings.REPORT_PDF_INLINE_MAX_ITEMS = 1000
    response = client_for(demo.owner).get(f"/investigations/{demo.pk}/report.pdf")
    assert response.status_code == 200
    reader = PdfReader(io.BytesIO(response.content))
    text = " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)
    missing = [title for title in titles if " ".join(title.split()) not in text]
    assert missing == []
    sha = demo.runs.get().data_read["files"][0]["sha256"]
    assert sha in text.replace(" ", "")


def test_a_render_whose_worker_died_is_taken_over_and_a_live_one_is_left_alone(
    seeded: Any, manager: Any
) -> None:
    from datetime import timedelta

    from investigations.reports.services import render_export

    long_ago = timezone.now() - timedelta(hours=2)
    dead = ReportExport.objects.create(
        investigation=seeded, requested_by=manager, format="md", status="running"
    )
    ReportExport.objects.filter(pk=dead.pk).update(started_at=long_ago)
    live = ReportExport.objects.create(
        investigation=seeded,
        requested_by=manager,
        format="pdf",
        status="running",
        started_at=timezone.now(),
    )
    render_export(dead.pk)
    render_export(live.pk)
    dead.refresh_from_db()
    live.refresh_from_db()
    assert dead.status == "succeeded" and dead.path.read_bytes().startswith(b"# Investigation")
    assert live.status == "running" and not live.storage_key
    event = AuditEvent.objects.get(action="report.exported")
    assert event.details["export"] == dead.pk and event.actor == manager


def test_a_new_request_does_not_wait_on_a_dead_render(
    seeded: Any, manager: Any, settings: Any
) -> None:
    from datetime import timedelta

    settings.REPORT_INLINE_MAX_ITEMS = 0
    dead = ReportExport.objects.create(
        investigation=seeded, requested_by=manager, format="md", status="running"
    )
    ReportExport.objects.filter(pk=dead.pk).update(started_at=timezone.now() - timedelta(hours=2))
    response = client_for(manager).get(f"/investigations/{seeded.pk}/report.md")
    fresh = ReportExport.objects.exclude(pk=dead.pk).get()
    assert response["Location"] == f"/investigations/reports/{fresh.pk}/"
    assert fresh.status == "queued"


def test_an_export_that_cannot_render_fails_with_its_reason(seeded: Any, manager: Any) -> None:
    from investigations.reports.services import render_export

    export = ReportExport.objects.create(investigation=seeded, requested_by=manager, format="docx")
    render_export(export.pk)
    export.refresh_from_db()
    assert export.status == "failed"
    assert "Unknown report format 'docx'" in export.error
    page = client_for(manager).get(f"/investigations/reports/{export.pk}/").content.decode()
    assert "The report failed" in page
    assert not AuditEvent.objects.filter(action="report.exported").exists()


def test_an_aws_run_lists_its_objects_with_etags_the_listing_digest_and_athena_queries(
    investigation: Any, analyst: Any
) -> None:
    from investigations.reports.content import run_section

    run = QueryRun.objects.create(
        investigation=investigation,
        requested_by=analyst,
        source="s3",
        status="succeeded",
        source_config={"bucket": "flow-logs"},
        data_read={
            "bucket": "flow-logs",
            "region": "eu-west-1",
            "role_session": "portal-alice",
            "objects": [{"key": "AWSLogs/1/a.log.gz", "size": 2048, "etag": '"abc123"'}],
            "objects_count": 3,
            "objects_digest": "d" * 64,
            "engine": {"engine": "athena", "reason": "asked for"},
            "athena": {
                "database": "flowlogs",
                "table": "vpc_1",
                "location": "s3://flow-logs/AWSLogs/",
                "bytes_scanned": 10 * 1024 * 1024,
                "queries": [
                    {
                        "label": "top-talkers",
                        "query_id": "q-1",
                        "state": "SUCCEEDED",
                        "bytes_scanned": 1024,
                    }
                ],
            },
        },
    )
    section = run_section(run)
    assert section.source == "S3 bucket flow-logs in eu-west-1, read as portal-alice"
    assert section.engine == "Amazon Athena"
    assert [(i.name, i.size, i.digest_kind, i.digest) for i in section.items] == [
        ("AWSLogs/1/a.log.gz", 2048, "ETag", "abc123")
    ]
    assert (section.items_total, section.listing_digest) == (3, "d" * 64)
    assert "1 of 3 items listed; the digest covers them all." in section.notes
    assert (
        "Athena: table flowlogs.vpc_1 over s3://flow-logs/AWSLogs/, 1 queries, 10.0 MB scanned"
        in section.notes
    )
    assert "Athena query top-talkers: q-1 (SUCCEEDED, 1.0 KB)" in section.notes


def test_stored_report_files_follow_the_retention_policy(
    seeded: Any, manager: Any, settings: Any
) -> None:
    from datetime import timedelta

    from investigations.reports.models import reports_dir
    from investigations.reports.services import prune_report_files

    settings.UPLOAD_RETENTION_DAYS = 30
    exports = []
    for age, name in ((40, "old.md"), (5, "new.md")):
        (reports_dir() / name).write_text("# Report\n")
        exports.append(
            ReportExport.objects.create(
                investigation=seeded,
                requested_by=manager,
                format="md",
                status="succeeded",
                storage_key=name,
                sha256="e" * 64,
                finished_at=timezone.now() - timedelta(days=age),
            )
        )
    assert prune_report_files() == 1
    old, new = (ReportExport.objects.get(pk=e.pk) for e in exports)
    assert not (reports_dir() / "old.md").exists() and (reports_dir() / "new.md").exists()
    assert (old.storage_key, old.sha256) == ("", "e" * 64)
    assert new.storage_key == "new.md"
    assert client_for(manager).get(f"/investigations/reports/{old.pk}/download/").status_code == 404
    assert AuditEvent.objects.get(action="report.files_pruned").details == {
        "files": 1,
        "retention_days": 30,
    }
    settings.UPLOAD_RETENTION_DAYS = 0
    assert prune_report_files() == 0


def test_the_pdf_opens_only_the_vendored_fonts_and_its_inline_charts(
    seeded: Any, analyst: Any
) -> None:
    from pathlib import Path

    from investigations.reports.content import build_report
    from investigations.reports.pdf import FONT_DIR, render_pdf

    fetcher = _fetcher()
    opened: list[str] = []
    fetch = fetcher.fetch

    def recording(url: str, headers: Any = None) -> Any:
        opened.append(url)
        return fetch(url, headers)

    fetcher.fetch = recording
    pdf = render_pdf(build_report(seeded, user=analyst), fetcher=fetcher)
    assert pdf.startswith(b"%PDF-")
    fonts = [url for url in opened if url.startswith("file://")]
    assert sorted(Path(url.removeprefix("file://")).name for url in fonts) == [
        "DejaVuSans-Bold.ttf",
        "DejaVuSans.ttf",
        "DejaVuSansMono.ttf",
    ]
    assert all(Path(url.removeprefix("file://")).parent == FONT_DIR.resolve() for url in fonts)
    charts = [url for url in opened if url.startswith("data:image/svg+xml;base64,")]
    assert len(charts) == 3
    assert len(fonts) + len(charts) == len(opened)
