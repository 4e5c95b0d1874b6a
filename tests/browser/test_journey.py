"""A real browser: the analyst logs in, uploads a log, watches the run finish, reads the table."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.factories import PASSWORD, InvestigationFactory
from tests.flowlogs import SAMPLE_TEXT, T0

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


# The sample log again, with more SSH from 203.0.113.50 and a newcomer: a second run differs.
SECOND_TEXT = SAMPLE_TEXT + "".join(
    f"2 123456789012 eni-0a1 {src} 10.0.1.10 {port} 22 6 10 600 {T0 + 40} {T0 + 90} REJECT OK\n"
    for src, port in (("203.0.113.50", 51010), ("203.0.113.50", 51011), ("45.33.32.156", 52000))
)


def _header(page: Any, analysis: str, column: str) -> Any:
    return page.locator(f'#table-{analysis} th:has(a[data-column="{column}"])')


def _until(page: Any, expression: str, timeout: float = 5.0) -> None:
    """Poll a JS expression from Python: wait_for_function polls through eval, which the
    portal's CSP (script-src 'self') forbids."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout} s: {expression}"
        time.sleep(0.05)


def _column(page: Any, analysis: str, index: int) -> list[str]:
    return page.locator(f"#table-{analysis} tbody tr td:nth-child({index})").all_inner_texts()


def test_analyst_sorts_a_result_table_and_compares_two_runs(
    live_server: Any, page: Any, celery_worker_process: Any, analyst: Any, tmp_path: Path
) -> None:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    InvestigationFactory(owner=analyst, title="Sorting case")
    first, second = tmp_path / "first.log", tmp_path / "second.log"
    first.write_text(SAMPLE_TEXT)
    second.write_text(SECOND_TEXT)

    page.goto(f"{live_server.url}/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Sorting case").click()
    page.get_by_role("link", name="New run").click()
    page.get_by_label("Flow-log files").set_input_files(str(first))
    page.get_by_role("button", name="Start run").click()
    page.wait_for_selector('[data-status="succeeded"]', timeout=90_000)

    # Mouse: the first click on a measure sorts largest first, server-side, in place.
    flows = _header(page, "ssh-inbound", "flows")
    flows.get_by_role("link").click()
    page.wait_for_selector('#table-ssh-inbound th[aria-sort="descending"]')
    assert _column(page, "ssh-inbound", 3) == ["2", "1", "1"]
    # The address follows once htmx settles the swap (replaceState), a moment after it shows.
    _until(page, "location.search.includes('ssh-inbound.sort=-flows')")
    # Keyboard: Enter on the focused header flips it, and focus stays on that header.
    _header(page, "ssh-inbound", "flows").get_by_role("link").press("Enter")
    page.wait_for_selector('#table-ssh-inbound th[aria-sort="ascending"]')
    assert _column(page, "ssh-inbound", 3) == ["1", "1", "2"]
    # Focus comes back after htmx settles the swap, a moment after the new table shows.
    _until(page, "document.activeElement && document.activeElement.dataset.column === 'flows'")
    # The sort lives in the address: a reload shows the same order.
    page.reload()
    page.wait_for_selector('#table-ssh-inbound th[aria-sort="ascending"]')
    assert _column(page, "ssh-inbound", 3) == ["1", "1", "2"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "sorted-table.png"), full_page=True)

    # A second run, from "Re-run with changes": presets fill the window, Clear empties it.
    page.get_by_role("link", name="Re-run with changes").click()
    page.get_by_role("button", name="Last 24 hours").click()
    assert page.get_by_label("Start time").input_value() != ""
    assert page.get_by_role("button", name="Last 24 hours").get_attribute("aria-pressed") == (
        "true"
    )
    assert not page.get_by_label("Relative window").is_visible()  # the no-script fallback
    page.get_by_role("button", name="Clear").click()  # the sample log is older than a day
    assert page.get_by_label("Start time").input_value() == ""
    page.get_by_label("Flow-log files").set_input_files(str(second))
    page.locator("summary", has_text="Detection settings").click()
    page.get_by_role("textbox", name="Sensitive ports").fill("22=ssh\n2222=ssh-alt")
    page.get_by_role("button", name="Start run").click()
    page.wait_for_selector('[data-status="succeeded"]', timeout=90_000)

    page.get_by_role("link", name="Compare with…").click()
    page.wait_for_selector("#cmp-ssh-inbound")
    section = page.locator("#cmp-ssh-inbound")
    assert "45.33.32.156" in section.locator("table.compare-added").inner_text()
    changed = section.locator("table.compare-changed").inner_text()
    assert "203.0.113.50" in changed and "2 → 4" in changed
    page.screenshot(path=str(ARTIFACTS / "run-compare.png"), full_page=True)
    assert errors == []
