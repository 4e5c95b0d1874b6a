"""Reports in a real browser: the investigation page offers both reports and the PDF downloads;
the findings summary is reached from the menu and fits a phone without sideways scrolling."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.factories import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

PHONE = {"width": 390, "height": 844}
LONG_TYPE = "UnauthorizedAccess:EC2/TorRelayWithAVeryLongDetectionTypeNameThatMustWrap"


def _seed(investigation: Any) -> None:
    from django.utils import timezone

    from investigations.models import Finding, QueryRun

    run = QueryRun.objects.create(
        investigation=investigation, requested_by=investigation.owner, status="succeeded"
    )
    for kind, severity in ((LONG_TYPE, 9.1), ("Recon:EC2/Portscan", 5), ("Recon:EC2/Portscan", 2)):
        finding = Finding.objects.create(
            investigation=investigation, run=run, type=kind, severity=severity, title=f"{kind} seen"
        )
        Finding.objects.filter(pk=finding.pk).update(created_at=timezone.now() - timedelta(hours=1))


def test_a_manager_downloads_the_pdf_and_reads_the_summary_on_a_phone(
    live_server: Any, page: Any, investigation: Any, manager: Any
) -> None:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _seed(investigation)
    page.goto(f"{live_server.url}/auth/login/")
    page.get_by_label("Username").fill(manager.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    page.goto(f"{live_server.url}/investigations/{investigation.pk}/")
    markdown = page.get_by_role("link", name="Report (Markdown)")
    assert markdown.get_attribute("href") == f"/investigations/{investigation.pk}/report.md"
    with page.expect_download() as info:
        page.get_by_role("link", name="Report (PDF)").click()
    download = info.value
    assert download.suggested_filename == f"investigation-{investigation.pk}-report.pdf"
    with open(download.path(), "rb") as pdf:
        assert pdf.read(5) == b"%PDF-"

    page.get_by_role("link", name="Findings summary").click()
    page.wait_for_selector("table.summary-table")
    assert "3 findings in 1 investigation" in " ".join(page.locator("main").inner_text().split())
    page.set_viewport_size(PHONE)
    page.goto(page.url)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.get_by_role("link", name="Download CSV").is_visible()
    assert errors == []
