"""Main journeys in a real browser: an analyst opens a case, reads AWS data and exports; a
manager reviews history and the audit log; an outsider is turned away. No console errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.factories import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"


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


@pytest.mark.worker
def test_analyst_opens_a_case_reads_aws_data_and_exports(
    live_server: Any,
    page: Any,
    celery_worker_process: Any,
    moto_endpoint: str,
    analyst: Any,
    teammate: Any,
) -> None:
    from accounts.demo import seed_demo_account

    seed_demo_account(moto_endpoint, lines=3000)
    errors = _watch(page)
    _login(page, live_server.url, "alice")
    page.get_by_role("link", name="New investigation").click()
    page.get_by_label("Title").fill("Brute force on web-1")
    page.get_by_label("bob").check()
    page.get_by_role("button", name="Open investigation").click()
    page.get_by_role("link", name="New run").click()
    page.get_by_label("Read flow logs from").select_option("cloudwatch")
    page.get_by_label("AWS account").select_option(label="Demo account (moto) (123456789012)")
    page.get_by_label("Instance").fill("web")
    page.locator("#instance-details").get_by_text("10.0.0.0/16, 10.1.0.0/16").wait_for()
    page.get_by_role("button", name="Last 7 days").click()  # fills the datetime-local pickers
    assert page.get_by_label("Start time").input_value() != ""
    for name in ("time-series", "graph", "detections"):
        page.locator(f"input[name=analyses][value={name}]").check()
    page.get_by_role("button", name="Start run").click()
    page.wait_for_selector('[data-status="succeeded"]', timeout=120_000)
    assert "Data read from AWS" in page.content()
    page.locator("#charts canvas, .chart canvas").first.wait_for()
    with page.expect_download() as download:
        page.locator("#table-ssh-inbound").get_by_role("link", name="CSV").click()
    saved = ARTIFACTS / "ssh-inbound.csv"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    download.value.save_as(saved)
    assert saved.read_text().startswith("srcaddr,action,")
    page.screenshot(path=str(ARTIFACTS / "aws-run.png"), full_page=True)
    assert errors == []


def test_manager_reviews_history_and_the_audit_log(
    live_server: Any, page: Any, investigation: Any, manager: Any
) -> None:
    from investigations.models import QueryRun
    from portal import audit

    QueryRun.objects.create(
        investigation=investigation,
        requested_by=investigation.owner,
        analyses=["ssh-inbound"],
        status="failed",
        error="boom",
    )
    audit.record(actor=investigation.owner, action="run.submitted", target=investigation)
    errors = _watch(page)
    _login(page, live_server.url, "maggie")
    page.get_by_role("link", name="Run history").click()
    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    assert "Web tier brute force" in page.locator("table.data").inner_text()
    page.get_by_role("link", name="Audit log").click()
    page.get_by_label("Action").fill("run.")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table.data tbody tr")
    assert rows.count() == 1 and "run.submitted" in rows.first.inner_text()
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    assert download.value.suggested_filename == "audit-log.csv"
    page.screenshot(path=str(ARTIFACTS / "manager-audit.png"), full_page=True)
    assert errors == []


def test_an_outsider_is_denied(
    live_server: Any, page: Any, investigation: Any, outsider: Any
) -> None:
    _login(page, live_server.url, "mallory")
    assert "Web tier brute force" not in page.content()
    response = page.goto(f"{live_server.url}/investigations/{investigation.pk}/")
    assert response is not None and response.status == 404
    response = page.goto(f"{live_server.url}/audit/")
    assert response is not None and response.status == 403


def test_analyst_assigns_tags_and_reads_the_timeline(
    live_server: Any, page: Any, investigation: Any
) -> None:
    errors = _watch(page)
    _login(page, live_server.url, "alice")
    page.get_by_role("link", name="Web tier brute force").click()
    assert page.locator("#assignee-value").inner_text() == "Unassigned"
    page.get_by_label("Assignee").select_option(label="bob")
    page.get_by_role("button", name="Assign", exact=True).click()
    assert page.locator("#assignee-value").inner_text() == "bob"
    page.get_by_label("Tags").fill("SSH, <script>alert(1)</script>")
    page.get_by_role("button", name="Save tags").click()
    chips = page.locator("#tags-value .tag")
    assert chips.all_inner_texts() == ["<script>alert(1)</script>", "ssh"]  # text, not markup
    page.get_by_label("Add a note").fill("Escalated to the web team")
    page.get_by_role("button", name="Add note").click()
    entries = page.locator("#timeline li").all_inner_texts()
    assert "alice added a note" in entries[0] and "Escalated to the web team" in entries[0]
    assert "alice changed the tags" in entries[1]
    assert "alice assigned it to bob" in entries[2]
    assert "alice opened the investigation" in entries[-1]
    page.locator("#tags-value").get_by_role("link", name="ssh").click()
    assert page.get_by_label("Tag").input_value() == "ssh"
    assert page.locator("table.data tbody tr").count() == 1
    page.get_by_label("Assignee").select_option("me")
    page.get_by_role("button", name="Filter").click()
    assert page.locator("table.data tbody tr").count() == 0  # assigned to bob, not alice
    page.screenshot(path=str(ARTIFACTS / "workspace.png"), full_page=True)
    assert errors == []


def _background(page: Any) -> str:
    return str(page.evaluate("getComputedStyle(document.body).backgroundColor"))


DARK_BG, LIGHT_BG = "rgb(13, 17, 23)", "rgb(246, 248, 250)"


def test_the_theme_toggle_is_remembered_and_applied_before_paint(
    live_server: Any, page: Any, investigation: Any
) -> None:
    errors = _watch(page)
    page.emulate_media(color_scheme="light")
    _login(page, live_server.url, "alice")
    toggle = page.get_by_role("group", name="Theme")
    assert toggle.get_by_role("radio", name="System").is_checked()
    assert _background(page) == LIGHT_BG
    # Keyboard only: focus the checked radio, arrow to the next one.
    toggle.get_by_role("radio", name="System").focus()
    page.keyboard.press("ArrowLeft")
    assert toggle.get_by_role("radio", name="Dark").is_checked()
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    assert _background(page) == DARK_BG
    assert page.evaluate("localStorage.getItem('portal-theme')") == "dark"
    # The stored choice is on <html> before any of the body exists: no flash of light.
    page.add_init_script("""
        new MutationObserver(function (changes, observer) {
          if (document.body) {
            window.__themeAtFirstBody = document.documentElement.getAttribute('data-theme');
            observer.disconnect();
          }
        }).observe(document, {childList: true, subtree: true});
    """)
    page.goto(f"{live_server.url}/investigations/{investigation.pk}/")
    assert page.evaluate("window.__themeAtFirstBody") == "dark"
    assert _background(page) == DARK_BG
    assert page.get_by_role("radio", name="Dark").is_checked()
    # "System" follows the operating system again, and is remembered as such.
    page.get_by_title("Follow the system's theme").click()  # the mouse, on the icon
    page.emulate_media(color_scheme="dark")
    assert _background(page) == DARK_BG
    page.emulate_media(color_scheme="light")
    assert _background(page) == LIGHT_BG
    page.reload()
    assert page.evaluate("document.documentElement.dataset.theme") == "auto"
    page.get_by_role("radio", name="Light").check()
    page.emulate_media(color_scheme="dark")
    assert _background(page) == LIGHT_BG  # an explicit choice beats the system
    assert errors == []
