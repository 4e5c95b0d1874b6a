"""The entity page and API: one address across the runs and investigations a user may see,
from stored results and from the run's flow-cache entry while it exists."""

from __future__ import annotations

import shutil
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from investigations.models import Finding, QueryRun, ResultRow, RunResult
from investigations.runs import pipeline
from investigations.runs.submit import submit_run
from portal.sequences import next_change_number
from tests.conftest import client_for
from tests.flowlogs import SAMPLE_TEXT

pytestmark = pytest.mark.django_db


def _executed_run(investigation: Any, user: Any, settings: Any, tmp_path: Any) -> QueryRun:
    settings.FLOW_CACHE_DIR = tmp_path / "flowcache"
    settings.WHOIS_ENABLED = False
    upload = SimpleUploadedFile("sample.log", SAMPLE_TEXT.encode())
    run = submit_run(
        user=user,
        investigation=investigation,
        analyses=["traffic-summary", "top-talkers", "detections"],
        files=[upload],
        parameters={"vpc_cidrs": ["10.0.0.0/16"]},
    )
    claimed = QueryRun.claim(run.pk)
    assert claimed is not None
    pipeline.execute(claimed)
    claimed.refresh_from_db()
    assert claimed.status == "succeeded", claimed.error
    return claimed


def test_an_address_shows_labels_runs_and_traffic_from_the_cache(
    investigation: Any, analyst: Any, settings: Any, tmp_path: Any
) -> None:
    run = _executed_run(investigation, analyst, settings, tmp_path)
    response = client_for(analyst).get("/entities/10.0.1.10/")
    assert response.status_code == 200
    html = " ".join(response.content.decode().split())
    assert "inside 10.0.0.0/16" in html  # internal range of the run
    assert f'href="/investigations/runs/{run.pk}/?ip=10.0.1.10"' in html
    assert "Read from the run's cached flow data" in html
    # 10.0.1.10 sent 500 + 80 bytes in 2 flows and received 600+720+9000+300+252 in 5.
    data = client_for(analyst).get("/api/v1/entities/10.0.1.10/").json()
    (traffic,) = data["traffic"]
    assert traffic["source"] == "flow cache"
    assert (traffic["out"]["flows"], traffic["out"]["bytes"]) == (2, 580)
    assert (traffic["in"]["flows"], traffic["in"]["bytes"]) == (5, 10872)
    assert traffic["peers_in"][0] == {
        "peer": "203.0.113.50",
        "port": 22,
        "protocol": 6,
        "flows": 3,
        "packets": 62,
        "bytes": 10320,
    }
    assert {m["analysis"] for m in data["runs"]} >= {"top-talkers"}
    assert data["first_seen"].startswith("2025-11-23T12:13")
    # The peer links back to its own entity page.
    assert '<a class="entity" href="/entities/203.0.113.50/">203.0.113.50</a>' in html


def test_without_the_cache_entry_it_says_the_stored_results_are_all_there_is(
    investigation: Any, analyst: Any, settings: Any, tmp_path: Any
) -> None:
    run = _executed_run(investigation, analyst, settings, tmp_path)
    shutil.rmtree(tmp_path / "flowcache")
    data = client_for(analyst).get("/api/v1/entities/10.0.1.10/").json()
    assert data["traffic"] == [] and data["stored_results_only"] == [run.pk]
    html = " ".join(client_for(analyst).get("/entities/10.0.1.10/").content.decode().split())
    assert "No cached flow data of a run that mentions it is left" in html
    # What the stored tables say instead: the rows naming it, with its peers and counts.
    assert f"Run #{run.pk} · Top talkers: 1 row (stored table)" in html
    assert '<td><a class="entity" href="/entities/10.0.1.10/">10.0.1.10</a></td>' in html


def test_nothing_leaks_from_investigations_the_user_cannot_see(
    investigation: Any, outsider: Any
) -> None:
    run = QueryRun.objects.create(
        investigation=investigation, requested_by=investigation.owner, status="succeeded"
    )
    result = RunResult.objects.create(
        run=run,
        analysis="top-talkers",
        title="Top talkers",
        columns=["srcaddr"],
        row_count=1,
        total_groups=1,
        annotations={"203.0.113.50": {"org": "Evil Corp"}},
    )
    ResultRow.objects.create(result=result, position=0, data={"srcaddr": "203.0.113.50"})
    Finding.objects.create(
        investigation=investigation,
        run=run,
        type="Recon:EC2/Portscan",
        severity=5,
        title="Scan",
        evidence={"peer": "203.0.113.50"},
        change_number=next_change_number(),
    )
    owner = client_for(investigation.owner).get("/api/v1/entities/203.0.113.50/").json()
    assert owner["findings_total"] == 1 and len(owner["runs"]) == 1
    assert {"source": "WHOIS organisation", "label": "Evil Corp", "run": run.pk} in owner["labels"]
    data = client_for(outsider).get("/api/v1/entities/203.0.113.50/").json()
    assert data["findings_total"] == 0 and data["findings"] == [] and data["runs"] == []
    # Only what the address itself says (a documentation range), nothing from the runs.
    assert [label["source"] for label in data["labels"]] == ["special range"]
    html = client_for(outsider).get("/entities/203.0.113.50/").content.decode()
    assert "Evil Corp" not in html and "Scan" not in html


def test_a_similar_address_is_not_a_match(investigation: Any, analyst: Any) -> None:
    run = QueryRun.objects.create(investigation=investigation, requested_by=analyst)
    result = RunResult.objects.create(
        run=run, analysis="top-talkers", title="Top talkers", columns=["srcaddr"]
    )
    ResultRow.objects.create(result=result, position=0, data={"srcaddr": "10.0.1.100"})
    assert client_for(analyst).get("/api/v1/entities/10.0.1.10/").json()["runs"] == []


@pytest.mark.parametrize("bad", ["10.0.1.300", "not-an-ip", "10.0.0.0%2F16"])
def test_a_bad_address_is_a_400_with_the_reason(analyst: Any, bad: str) -> None:
    page = client_for(analyst).get(f"/entities/{bad}/")
    assert page.status_code == 400
    assert "is not an IP address" in page.content.decode()
    api = client_for(analyst).get(f"/api/v1/entities/{bad}/")
    assert api.status_code == 400 and "is not an IP address" in api.json()["detail"]


def test_ipv6_addresses_are_canonical(analyst: Any) -> None:
    data = client_for(analyst).get("/api/v1/entities/2001:DB8:0::1/").json()
    assert data["address"] == "2001:db8::1"
