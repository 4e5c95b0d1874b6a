"""Watches in a real browser: Watch this from a finished AWS run, the watch's page with its runs
and alerts, pause and resume, and every watch page on a phone without sideways scrolling."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from investigations.models import QueryRun
from investigations.watches.models import Watch, WatchAlert, WatchRun
from tests.factories import PASSWORD, InvestigationFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

PHONE = {"width": 390, "height": 844}
LONG = (
    "New finding: SSH brute force from 2001:db8:ffff:ffff:ffff:ffff:ffff:fffe against "
    "ip-10-0-1-10.eu-west-1.compute.internal, 4,000 attempts in 5 minutes"
)


def _fits(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_watch_a_run_then_pause_and_resume_it_on_a_phone(
    live_server: Any, page: Any, analyst: Any
) -> None:
    from accounts.models import AwsAccount

    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    investigation: Any = InvestigationFactory(owner=analyst, title="Web tier")
    account = AwsAccount.objects.create(
        name="Production",
        account_id="123456789012",
        role_arn="arn:aws:iam::123456789012:role/FlowLogPortalReader",
        regions=["eu-west-1"],
    )
    run = QueryRun.objects.create(
        investigation=investigation,
        requested_by=analyst,
        analyses=["detections"],
        source="cloudwatch",
        source_config={
            "account": account.pk,
            "account_id": account.account_id,
            "instance": {"instance_id": "i-0abcdef1234567890", "name": "web", "interfaces": []},
        },
        status="succeeded",
        finished_at=timezone.now(),
    )
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/auth/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}{run.get_absolute_url()}")
    page.get_by_role("link", name="Watch this").click()
    assert _fits(page)
    page.get_by_label("Run every (minutes)").fill("15")
    page.get_by_label("Spike threshold k").fill("2.5")
    page.get_by_role("button", name="Start watching").click()
    page.wait_for_url("**/investigations/watches/*/")
    watch = Watch.objects.get()
    assert (watch.interval_minutes, watch.k) == (15, 2.5)

    now = timezone.now()
    WatchRun.objects.create(watch=watch, run=run, window_start=now, window_end=now)
    WatchAlert.objects.create(watch=watch, run=run, kind="new_finding", summary=LONG)
    page.reload()
    assert LONG in page.locator("#alerts").inner_text()
    assert _fits(page)
    page.get_by_role("button", name="Pause").click()
    page.get_by_role("button", name="Resume").wait_for()
    assert Watch.objects.get().paused
    page.get_by_role("button", name="Resume").click()
    page.get_by_role("button", name="Pause").wait_for()
    assert not Watch.objects.get().paused

    page.goto(f"{live_server.url}{investigation.get_absolute_url()}")
    assert "SSH brute force from 2001:db8" in page.locator("#watches").inner_text()
    assert _fits(page)
    assert errors == []
