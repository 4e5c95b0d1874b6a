"""A real browser: the analyst logs in, uploads a log, watches the run finish, reads the table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.factories import PASSWORD, InvestigationFactory
from tests.flowlogs import SAMPLE_TEXT

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.worker]

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"


def test_analyst_uploads_a_log_and_sees_the_traffic_summary(
    live_server: Any, page: Any, celery_worker_process: Any, analyst: Any, tmp_path: Path
) -> None:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    investigation = InvestigationFactory(owner=analyst, title="Browser case")
    log = tmp_path / "vpc-flow.log"
    log.write_text(SAMPLE_TEXT)

    page.goto(f"{live_server.url}/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Browser case").click()
    page.get_by_role("link", name="New run").click()
    page.get_by_label("Flow-log files").set_input_files(str(log))
    page.get_by_label("Target IPs or CIDRs").fill("10.0.1.10")
    page.get_by_role("button", name="Start run").click()

    page.wait_for_selector('[data-status="succeeded"]', timeout=90_000)
    table = page.locator("#table-traffic-summary table")
    table.wait_for()
    text = table.inner_text()
    assert "tcp" in text and "ACCEPT" in text and "9,800" in text
    assert "203.0.113.50" in page.locator("#table-ssh-inbound").inner_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "run-detail.png"), full_page=True)
    assert investigation.runs.get().status == "succeeded"
    assert errors == []
