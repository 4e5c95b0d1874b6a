"""The analyst's loop in a real browser: triage a finding in place and see it in the timeline and
the API, pivot from a finding to its address and back, filter a run by an address only on page
3, read a run over garbage, and no main page scrolls sideways on a phone."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.factories import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}
ATTACKER = "203.0.113.77"


def _watch(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def _login(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/auth/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    extra = os.environ.get("SCREENSHOT_DIR")
    if extra:
        page.screenshot(path=str(Path(extra) / f"{name}.png"), full_page=True)


@pytest.fixture
def case(investigation: Any) -> dict[str, Any]:
    """A finished run: 160 top-talker rows (the attacker only on page 3) and two findings."""
    from django.db import transaction

    with transaction.atomic():
        return _seed(investigation)


def _seed(investigation: Any) -> dict[str, Any]:
    from investigations.models import Finding, QueryRun, ResultRow, RunResult
    from portal.sequences import next_change_number

    run = QueryRun.objects.create(
        investigation=investigation,
        requested_by=investigation.owner,
        analyses=["top-talkers", "detections"],
        status="succeeded",
        parameters={"vpc_cidrs": ["10.0.0.0/16"]},
        records={
            "total": 5000,
            "ok": 4990,
            "malformed": 10,
            "nodata": 0,
            "skipdata": 0,
            "filtered_out": 0,
        },
    )
    result = RunResult.objects.create(
        run=run,
        analysis="top-talkers",
        title="Top talkers",
        columns=["ip", "dstport", "flows", "bytes"],
        row_count=160,
        total_groups=160,
        annotations={ATTACKER: {"kind": "external", "org": "Example Transit"}},
    )
    ResultRow.objects.bulk_create(
        [
            ResultRow(
                result=result,
                position=i,
                data={
                    "ip": ATTACKER if i == 120 else f"10.0.{i // 200}.{i % 200 + 1}",
                    "dstport": 3389,
                    "flows": 500 - i,
                    "bytes": 90_000 - i,
                },
            )
            for i in range(160)
        ]
    )
    brute = Finding.objects.create(
        investigation=investigation,
        run=run,
        type="UnauthorizedAccess:EC2/SSHBruteForce",
        severity=8,
        title=f"SSH brute force from {ATTACKER} against 1 address(es)",
        explanation=f"1200 short SSH connections from {ATTACKER}.",
        evidence={
            "peer": ATTACKER,
            "targets": ["10.0.0.10"],
            "target_count": 1,
            "ports": [22],
            "flows": 1200,
            "bytes": 96_000,
        },
        change_number=next_change_number(),
    )
    scan = Finding.objects.create(
        investigation=investigation,
        run=run,
        type="Recon:EC2/Portscan",
        severity=5,
        title="Port scan from 198.51.100.7: 40 ports on 2 address(es)",
        evidence={
            "peer": "198.51.100.7",
            "targets": ["10.0.0.10", "10.0.0.11"],
            "ports": [22, 3389],
        },
        change_number=next_change_number(),
    )
    return {"run": run, "brute": brute, "scan": scan, "investigation": investigation}


def test_an_analyst_triages_a_finding_and_sees_it_in_the_timeline_and_the_api(
    live_server: Any, page: Any, case: dict[str, Any]
) -> None:
    errors = _watch(page)
    page.set_viewport_size(DESKTOP)
    _login(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/investigations/{case['investigation'].pk}/")
    card = page.locator(f"#finding-{case['brute'].pk}")
    card.get_by_text("Triage", exact=True).click()
    card.get_by_label("Status").select_option("acknowledged")
    card.get_by_label("Assignee").select_option(label="bob")
    card.get_by_label("Comment").fill("Blocked at the NACL; watching for more.")
    card.get_by_role("button", name="Save triage").click()
    card = page.locator(f"#finding-{case['brute'].pk}")  # swapped in place by htmx
    card.get_by_text("Saved.").wait_for()
    assert card.locator("[data-triage-status]").inner_text() == "Acknowledged"
    assert card.locator(".finding-assignee").inner_text() == "bob"
    _shot(page, "triage-desktop")
    # Bulk: the other finding, resolved.
    page.locator(f"#finding-{case['scan'].pk} .finding-pick").check()
    bulk = page.locator("#bulk-triage")
    bulk.get_by_label("Status").select_option("resolved")
    bulk.get_by_role("button", name="Apply to selected").click()
    page.get_by_text("1 finding triaged.").wait_for()
    entries = page.locator("#timeline li").all_inner_texts()
    assert any(
        "marked finding" in e
        and "as Acknowledged" in e
        and "assigned to bob" in e
        and "Blocked at the NACL" in e
        for e in entries
    )
    assert any("Port scan" in e and "as Resolved" in e for e in entries)
    api = page.request.get(f"{live_server.url}/api/v1/findings/{case['brute'].pk}/").json()
    assert (api["status"], api["assignee"], api["triage_comment"]) == (
        "acknowledged",
        "bob",
        "Blocked at the NACL; watching for more.",
    )
    assert errors == []


def test_pivot_from_a_finding_to_the_address_and_back(
    live_server: Any, page: Any, case: dict[str, Any]
) -> None:
    errors = _watch(page)
    page.set_viewport_size(DESKTOP)
    _login(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/investigations/runs/{case['run'].pk}/")
    page.locator(f"#finding-{case['brute'].pk} h3").get_by_role("link", name=ATTACKER).click()
    page.wait_for_url(f"**/entities/{ATTACKER}/")
    assert page.locator("h1").inner_text() == ATTACKER
    labels = page.locator(".labels-table").inner_text()
    assert "Example Transit" in labels and "documentation" in labels
    assert "Top talkers" in page.locator(".mentions").inner_text()
    _shot(page, "entity-desktop")
    page.get_by_role("link", name=case["brute"].title).click()
    page.wait_for_url(f"**/investigations/{case['investigation'].pk}/#finding-{case['brute'].pk}")
    assert page.locator(f"#finding-{case['brute'].pk}").is_visible()
    assert errors == []


def test_a_run_is_filtered_by_an_address_found_only_on_page_3(
    live_server: Any, page: Any, case: dict[str, Any]
) -> None:
    errors = _watch(page)
    page.set_viewport_size(DESKTOP)
    _login(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/investigations/runs/{case['run'].pk}/")
    table = page.locator("#table-top-talkers")
    assert ATTACKER not in table.inner_text()  # only the first rows are on the page
    _shot(page, "run-desktop")
    page.get_by_label("Rows that mention the address").fill(ATTACKER)
    page.get_by_role("button", name="Filter every table").click()
    page.get_by_text("stored row of every analysis mention it").wait_for()
    rows = page.locator("#table-top-talkers tbody tr")
    assert rows.count() == 1 and ATTACKER in rows.first.inner_text()
    page.get_by_label("Rows that mention the address").fill("203.0.113.999")
    page.get_by_role("button", name="Filter every table").click()
    assert "is not an IP address" in page.get_by_role("alert").inner_text()
    assert errors == [] or all("400" in e for e in errors)


def test_a_run_over_garbage_says_no_data_analysed(
    live_server: Any, page: Any, investigation: Any, settings: Any, tmp_path: Any
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from investigations.models import QueryRun
    from investigations.runs.pipeline import execute
    from investigations.runs.submit import submit_run

    settings.FLOW_CACHE_DIR = tmp_path / "flowcache"
    settings.WHOIS_ENABLED = False
    # A flow log by its header, every record line of it malformed.
    header = (
        b"version account-id interface-id srcaddr dstaddr srcport dstport protocol "
        b"packets bytes start end action log-status\n"
    )
    garbage = SimpleUploadedFile(
        "garbage.log",
        header + b"".join(b"2 123456789012 eni-0a1 not-an-address %d\n" % i for i in range(50)),
    )
    run = submit_run(
        user=investigation.owner,
        investigation=investigation,
        analyses=["all"],
        files=[garbage],
        parameters={},
    )
    claimed = QueryRun.claim(run.pk)
    assert claimed is not None
    execute(claimed)
    run.refresh_from_db()
    errors = _watch(page)
    _login(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/investigations/runs/{run.pk}/")
    if run.status == "failed":  # where the pipeline records such a run as failed
        assert page.locator('[data-status="failed"]').is_visible()
    else:
        badge = page.locator('#run-progress [data-outcome="no-data"]')
        assert badge.inner_text() == "No data analysed"
        assert "Every line was malformed" in page.locator("#run-progress").inner_text()
        assert page.locator("#charts").count() == 0
    _shot(page, "run-no-data")
    assert errors == []


@pytest.mark.parametrize("where", ["list", "investigation", "run", "entity"])
def test_no_main_page_scrolls_sideways_on_a_phone(
    live_server: Any, page: Any, case: dict[str, Any], where: str
) -> None:
    errors = _watch(page)
    _login(page, live_server.url, "alice")
    page.set_viewport_size(PHONE)
    url = {
        "list": "/investigations/",
        "investigation": f"/investigations/{case['investigation'].pk}/",
        "run": f"/investigations/runs/{case['run'].pk}/",
        "entity": f"/entities/{ATTACKER}/",
    }[where]
    page.goto(live_server.url + url)
    page.wait_for_load_state("networkidle")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    menu = page.locator(".nav-toggle summary")
    assert menu.is_visible() and not page.get_by_role("link", name="Run history").is_visible()
    _shot(page, f"{where}-phone")
    menu.click()
    assert page.get_by_role("link", name="Run history").is_visible()
    assert errors == []


def test_the_run_form_shows_the_engine_for_aws_only_and_focuses_its_errors(
    live_server: Any, page: Any, investigation: Any
) -> None:
    errors = _watch(page)
    _login(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/investigations/{investigation.pk}/runs/new/")
    assert page.locator('input[name="analyses"][value="all"]').is_checked()
    source = page.locator("#id_source")
    if source.count():
        source.select_option("upload")
        assert page.locator('[data-field="engine"]').is_hidden()
        source.select_option("cloudwatch")
        assert page.locator('[data-field="engine"]').is_visible()
        source.select_option("upload")
    page.locator("#id_port").fill("99999")
    # The server's check, not the browser's: the field's own limits are switched off.
    page.locator("form.run-form").evaluate("form => { form.noValidate = true; }")
    page.get_by_role("button", name="Start run").click()
    summary = page.locator("#error-summary")
    summary.wait_for()
    assert page.evaluate("document.activeElement.id") == "error-summary"
    assert "Port" in summary.inner_text()
    assert errors == [] or all("400" in e for e in errors)
