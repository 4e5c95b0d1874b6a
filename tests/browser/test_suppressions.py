"""Suppress similar in a real browser: from a finding to a saved rule (its errors summarised
first), a re-run that lists the finding apart as suppressed by the rule, and the rules page on a
phone without sideways scrolling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from analysis.detections import get_detection
from tests.factories import PASSWORD, InvestigationFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.worker]

SCANNER = "198.51.100.23"
LOG = "\n".join(get_detection("port-scan").cases[0].lines) + "\n"
TITLE = f"Port scan from {SCANNER}: 40 ports on 1 address(es)"


def _run_upload(page: Any, base: str, investigation: Any, log: Path) -> None:
    page.goto(f"{base}/investigations/{investigation.pk}/runs/new/")
    page.get_by_label("Flow-log files").set_input_files(str(log))
    page.get_by_role("button", name="Start run").click()
    page.wait_for_selector('[data-status="succeeded"]', timeout=90_000)


def test_suppress_similar_then_a_rerun_lists_the_finding_as_suppressed(
    live_server: Any, page: Any, celery_worker_process: Any, analyst: Any, tmp_path: Path
) -> None:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    investigation: Any = InvestigationFactory(owner=analyst, title="Scanner case")
    log = tmp_path / "scan.log"
    log.write_text(LOG)
    page.goto(f"{live_server.url}/auth/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    _run_upload(page, live_server.url, investigation, log)
    finding = page.locator("article.finding", has_text=TITLE)
    finding.get_by_role("link", name="Suppress similar").click()

    # Prefilled from the finding; the reason is the analyst's, and is required.
    assert page.locator("#id_actor").input_value() == f"{SCANNER}/32"
    assert page.locator("#id_target").input_value() == "10.0.0.5/32"
    assert page.locator("#id_detection").input_value() == "port-scan"
    page.locator("#id_name").fill("authorised scanner")
    page.get_by_role("button", name="Save rule").click()
    summary = page.locator("#error-summary")
    summary.wait_for()
    page.wait_for_load_state("load")
    assert page.evaluate("document.activeElement.id") == "error-summary"
    assert "The rule was not saved: 1 problem" in summary.inner_text()
    page.locator("#id_reason").fill("Qualys weekly scan, ticket SEC-42")
    page.get_by_role("button", name="Save rule").click()
    rule = investigation.suppression_rules.get()
    row = page.locator(f"#rule-{rule.pk}")
    assert "authorised scanner" in row.inner_text() and "active" in row.inner_text()

    # A phone shows the rules without sideways scrolling.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.set_viewport_size({"width": 1280, "height": 900})

    _run_upload(page, live_server.url, investigation, log)
    suppressed = page.locator("#suppressed")
    text = " ".join(suppressed.inner_text().split())
    assert "1 suppressed by rule 'authorised scanner'" in text
    assert TITLE in text
    rerun = investigation.runs.order_by("-pk").first()
    assert [item["id"] for item in rerun.data_read["suppression_rules"]] == [rule.pk]
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()  # the charts size themselves when drawn
    page.wait_for_load_state("networkidle")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    suppressed.get_by_role("link", name="rule 'authorised scanner'").click()
    page.wait_for_url(f"**/investigations/{investigation.pk}/suppressions/#rule-{rule.pk}")
    # The one console error is the refused form's 400, which the browser reports as such.
    assert all("status of 400" in error for error in errors) and len(errors) <= 1, errors
