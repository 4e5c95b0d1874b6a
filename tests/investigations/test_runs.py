"""The vertical slice with a real Celery worker: upload → queued run + audit → worker → results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

from investigations.models import QueryRun
from portal.models import AuditEvent
from tests.conftest import client_for, wait_for_run
from tests.flowlogs import sample_upload

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def _rows(run: QueryRun, analysis: str) -> list[dict[str, Any]]:
    result = run.results.get(analysis=analysis)
    return list(result.rows.order_by("position").values_list("data", flat=True))


def test_an_uploaded_log_is_analysed_by_the_worker(
    celery_worker_process: Any, investigation: Any, analyst: Any
) -> None:
    client = client_for(analyst)
    response = client.post(
        reverse("investigations:run_create", args=[investigation.pk]),
        {
            "log_files": sample_upload(gzip=True),
            "analyses": ["traffic-summary", "ssh-inbound"],
            "target_ips": "10.0.1.10",
            "vpc_cidrs": "10.0.0.0/16",
            "top_n": 100,
            "rank_by": "flows",
        },
    )
    run = QueryRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("investigations:run_detail", args=[run.pk])
    submitted = AuditEvent.objects.get(action="run.submitted")
    assert submitted.target_id == str(run.pk)
    assert submitted.actor == analyst
    assert submitted.details["analyses"] == ["traffic-summary", "ssh-inbound"]
    assert submitted.details["files"][0]["name"] == "sample.log.gz"

    run = wait_for_run(run)
    assert run.status == "succeeded", run.error + celery_worker_process.log()[-3000:]
    assert run.progress == 100
    assert run.records["total"] == 9
    assert run.records["ok"] == 7
    assert run.records["nodata"] == 1
    assert run.records["malformed"] == 1
    assert run.data_read["files"][0]["name"] == "sample.log.gz"

    summary = {(r["protocol"], r["action"]): r for r in _rows(run, "traffic-summary")}
    assert summary[("tcp", "ACCEPT")] | {} == summary[("tcp", "ACCEPT")]
    assert (
        summary[("tcp", "ACCEPT")]["flows"],
        summary[("tcp", "ACCEPT")]["packets"],
        summary[("tcp", "ACCEPT")]["bytes"],
    ) == (3, 50, 9800)
    assert (summary[("tcp", "REJECT")]["flows"], summary[("tcp", "REJECT")]["bytes"]) == (2, 1320)
    assert summary[("udp", "ACCEPT")]["flows"] == 1
    assert summary[("icmp", "REJECT")]["packets"] == 3

    ssh = {(r["srcaddr"], r["action"]): r["flows"] for r in _rows(run, "ssh-inbound")}
    assert ssh == {
        ("203.0.113.50", "REJECT"): 2,
        ("203.0.113.50", "ACCEPT"): 1,
        ("198.51.100.7", "ACCEPT"): 1,
    }
    assert AuditEvent.objects.filter(action="run.succeeded", target_id=str(run.pk)).exists()

    page = client.get(reverse("investigations:run_detail", args=[run.pk]))
    assert page.status_code == 200
    assert b"Traffic summary" in page.content
    assert b"203.0.113.50" in page.content
    assert b"Succeeded" in page.content


def test_a_run_with_bad_lines_still_succeeds_and_says_so(
    celery_worker_process: Any, investigation: Any, analyst: Any
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    record = b"2 123456789010 eni-1 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK"
    junk = SimpleUploadedFile("junk.log", b"hello\n" + record + b"\nworld\n")
    client = client_for(analyst)
    client.post(
        reverse("investigations:run_create", args=[investigation.pk]),
        {"log_files": junk, "analyses": ["traffic-summary"], "top_n": 10, "rank_by": "flows"},
    )
    run = wait_for_run(QueryRun.objects.get())
    assert run.status == "succeeded"
    assert run.records["malformed"] == 2
    assert run.records["ok"] == 1
    first = run.records["malformed_samples"][0]
    assert (first["file"], first["line"]) == ("junk.log", 1)
    assert "path" not in run.data_read["files"][0]
    assert [row["flows"] for row in _rows(run, "traffic-summary")] == [1]
    page = client.get(reverse("investigations:run_detail", args=[run.pk]))
    assert b"First malformed lines" in page.content


def test_a_run_whose_only_file_matches_no_format_fails_and_says_why(
    celery_worker_process: Any, investigation: Any, analyst: Any
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    junk = SimpleUploadedFile("junk.log", b"hello\nworld\n")
    client = client_for(analyst)
    client.post(
        reverse("investigations:run_create", args=[investigation.pk]),
        {"log_files": junk, "analyses": ["traffic-summary"], "top_n": 10, "rank_by": "flows"},
    )
    run = wait_for_run(QueryRun.objects.get())
    assert run.status == "failed"
    assert "junk.log: matches no flow log format" in run.error


def test_uploads_of_every_documented_format_are_read(
    celery_worker_process: Any, investigation: Any, analyst: Any
) -> None:
    import gzip

    from django.core.files.uploadedfile import SimpleUploadedFile

    data = Path(__file__).resolve().parents[1] / "analysis" / "formats" / "data"
    export = gzip.compress((data / "cloudwatch_subscription.json").read_bytes())
    files = [
        SimpleUploadedFile("tgw.log", (data / "transit_gateway.log").read_bytes()),
        SimpleUploadedFile("firehose-delivery.gz", export),
        SimpleUploadedFile("new-field.log", (data / "unknown_field.log").read_bytes()),
    ]
    client = client_for(analyst)
    client.post(
        reverse("investigations:run_create", args=[investigation.pk]),
        {"log_files": files, "analyses": ["traffic-summary"], "top_n": 10, "rank_by": "flows"},
    )
    run = wait_for_run(QueryRun.objects.get())
    assert run.status == "succeeded", run.error
    assert run.records["ok"] == 3 + 4 + 2
    read = {item["name"]: item for item in run.data_read["files"]}
    assert read["firehose-delivery.gz"]["container"] == "cloudwatch"
    assert read["new-field.log"]["notes"] == [
        "fields not known here, kept as text and not analysed: next-hop-interface-type"
    ]
    page = client.get(reverse("investigations:run_detail", args=[run.pk]))
    assert b"kept as text and not analysed: next-hop-interface-type" in page.content


def test_a_failed_run_records_why_and_the_page_shows_it(
    celery_worker_process: Any, investigation: Any, analyst: Any
) -> None:
    client = client_for(analyst)
    client.post(
        reverse("investigations:run_create", args=[investigation.pk]),
        {
            "log_files": sample_upload(),
            "analyses": ["traffic-summary"],
            "top_n": 10,
            "rank_by": "flows",
        },
    )
    run = QueryRun.objects.get()
    # The stored file disappears before the worker gets to it.
    for upload in run.uploads.all():
        import os

        os.remove(upload.path)
    run = wait_for_run(run)
    assert run.status == "failed"
    assert "no longer on disk" in run.error
    assert not run.results.exists()
    page = client.get(reverse("investigations:run_detail", args=[run.pk]))
    assert b"The run failed" in page.content
    assert b"no longer on disk" in page.content
    failed = AuditEvent.objects.get(action="run.failed")
    assert "no longer on disk" in failed.details["error"]


def test_a_second_delivery_of_the_same_run_does_nothing(
    celery_worker_process: Any, investigation: Any, analyst: Any
) -> None:
    from investigations.tasks import execute_run

    client = client_for(analyst)
    client.post(
        reverse("investigations:run_create", args=[investigation.pk]),
        {
            "log_files": sample_upload(),
            "analyses": ["traffic-summary"],
            "top_n": 10,
            "rank_by": "flows",
        },
    )
    run = wait_for_run(QueryRun.objects.get())
    assert run.status == "succeeded"
    finished_at = run.finished_at
    execute_run.delay(run.pk)  # redelivered message: the worker must not run it again
    execute_run(run.pk)  # and neither may a direct call
    run.refresh_from_db()
    assert run.finished_at == finished_at
    assert run.results.count() == 1
    assert AuditEvent.objects.filter(action="run.succeeded").count() == 1


def test_the_progress_fragment_asks_htmx_to_reload_when_done(
    celery_worker_process: Any, investigation: Any, analyst: Any
) -> None:
    client = client_for(analyst)
    client.post(
        reverse("investigations:run_create", args=[investigation.pk]),
        {
            "log_files": sample_upload(),
            "analyses": ["traffic-summary"],
            "top_n": 10,
            "rank_by": "flows",
        },
    )
    run = QueryRun.objects.get()
    url = reverse("investigations:run_progress", args=[run.pk])
    run = wait_for_run(run)
    fragment = client.get(url, headers={"HX-Request": "true"})
    assert fragment["HX-Refresh"] == "true"
    assert b'data-status="succeeded"' in fragment.content


CUSTOM_FIELDS = "version srcaddr dstaddr srcport dstport protocol packets bytes start end action"
CUSTOM_LINES = (
    "5 203.0.113.50 10.0.1.5 50001 22 6 10 600 1700000000 1700000060 REJECT\n"
    "5 10.0.1.5 198.51.100.7 40000 443 6 30 9000 1700000060 1700000120 ACCEPT\n"
)


def test_header_less_uploads_in_a_custom_format_are_read_with_the_format_given(
    celery_worker_process: Any, investigation: Any, analyst: Any
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = client_for(analyst)
    url = reverse("investigations:run_create", args=[investigation.pk])
    form = {"analyses": ["traffic-summary"], "top_n": 10, "rank_by": "flows"}
    # A typo in the format is refused on the form, naming the field; nothing is queued.
    refused = client.post(
        url,
        {
            **form,
            "log_files": SimpleUploadedFile("custom.log", CUSTOM_LINES.encode()),
            "log_format": CUSTOM_FIELDS.replace("dstport", "dst-port"),
        },
    )
    assert refused.status_code == 400 and b"dst-port" in refused.content
    assert not QueryRun.objects.exists()
    client.post(
        url,
        {
            **form,
            "log_files": SimpleUploadedFile("custom.log", CUSTOM_LINES.encode()),
            "log_format": CUSTOM_FIELDS,
        },
    )
    run = wait_for_run(QueryRun.objects.get())
    assert run.status == "succeeded", run.error
    assert (run.records["ok"], run.records["malformed"]) == (2, 0)
    assert run.data_read["log_format"].startswith("${version} ${srcaddr} ${dstaddr}")
    # The API takes the same field; an unknown field is a 400 naming it.
    api = client.post(
        "/api/v1/runs/",
        {
            "investigation": investigation.pk,
            "analyses": "traffic-summary",
            "files": SimpleUploadedFile("custom.log", CUSTOM_LINES.encode()),
            "log_format": "${version} ${srcaddr} ${colour}",
        },
    )
    assert api.status_code == 400 and "colour" in str(api.json()["log_format"])


def test_re_run_with_changes_reads_the_earlier_runs_files_again_without_picking_them(
    celery_worker_process: Any, investigation: Any, analyst: Any
) -> None:
    from investigations.models import UploadedLog

    client = client_for(analyst)
    url = reverse("investigations:run_create", args=[investigation.pk])
    form = {"analyses": ["traffic-summary"], "top_n": 10, "rank_by": "flows"}
    client.post(url, {**form, "log_files": sample_upload("first.log")})
    first = wait_for_run(QueryRun.objects.get())
    assert first.status == "succeeded", first.error
    offered = client.get(f"{url}?from={first.pk}").content.decode()
    assert f'name="reuse_files_of" value="{first.pk}"' in offered
    assert f"read again the 1 file of run #{first.pk} (first.log)" in offered
    # No file picked: the earlier run's file is read again, as a file of its own.
    response = client.post(url, {**form, "reuse_files_of": first.pk, "top_n": 5})
    assert response.status_code == 302
    second = wait_for_run(QueryRun.objects.exclude(pk=first.pk).get())
    assert second.status == "succeeded", second.error
    assert second.records["ok"] == first.records["ok"] and second.parameters["top_n"] == 5
    old, new = UploadedLog.objects.get(runs=first), UploadedLog.objects.get(runs=second)
    assert (new.original_name, new.sha256) == ("first.log", old.sha256)
    assert new.storage_key != old.storage_key
    # Once retention removed the earlier file, the form says so and queues nothing.
    Path(old.path).unlink()
    refused = client.post(url, {**form, "reuse_files_of": first.pk})
    assert refused.status_code == 400
    assert "first.log is no longer stored" in refused.content.decode()
    assert QueryRun.objects.count() == 2


def test_a_refused_form_keeps_its_file_so_the_next_try_needs_no_new_pick(
    celery_worker_process: Any, investigation: Any, analyst: Any
) -> None:
    import re

    from investigations.models import UploadedLog

    client = client_for(analyst)
    url = reverse("investigations:run_create", args=[investigation.pk])
    form = {"analyses": ["traffic-summary"], "top_n": 10, "rank_by": "flows"}
    refused = client.post(url, {**form, "port": "99999", "log_files": sample_upload("kept.log")})
    assert refused.status_code == 400 and not QueryRun.objects.exists()
    html = refused.content.decode()
    assert "Kept from your last try: kept.log" in html
    [held] = re.findall(r'name="held_uploads" value="(\d+)"', html)
    kept = UploadedLog.objects.get(pk=held)
    assert Path(kept.path).is_file()
    # Fixed, and no file picked: the kept file is read; the held copy is gone afterwards.
    client.post(url, {**form, "port": "22", "held_uploads": held})
    run = wait_for_run(QueryRun.objects.get())
    assert run.status == "succeeded", run.error
    assert run.records["ok"] > 0
    assert [u.original_name for u in run.uploads.all()] == ["kept.log"]
    assert not UploadedLog.objects.filter(pk=held).exists() and not Path(kept.path).exists()
    # Only a held file (uploaded by this user, read by no run yet) is taken: a run's file is not.
    other = client.post(url, {**form, "held_uploads": str(run.uploads.get().pk)})
    assert other.status_code == 400
    assert "Upload at least one flow-log file" in other.content.decode()
    assert QueryRun.objects.count() == 1
