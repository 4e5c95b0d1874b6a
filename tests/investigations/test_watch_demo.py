"""The demo's watch: `make demo`'s seeding gives the demo investigation a watch of the demo AWS
account's web instance, and `demo_incident` plants a brute force its next run alerts on."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from investigations.models import QueryRun
from investigations.runs import pipeline
from investigations.watches import schedule
from investigations.watches.demo import DEMO_WATCH_NAME
from investigations.watches.models import AlertKind, Watch, WatchAlert

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_aws(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, settings: Any, tmp_path: Any
) -> str:
    """The portal's AWS clients in this process go to the session's moto server."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "PORTAL_AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    settings.DEBUG = True
    settings.FLOW_CACHE_DIR = tmp_path / "flowcache"
    settings.WHOIS_ENABLED = False
    settings.RUN_PART_SECONDS = 7 * 86400
    return moto_endpoint


def _execute(run_id: int) -> QueryRun:
    claimed = QueryRun.claim(run_id)
    assert claimed is not None
    pipeline.execute(claimed)
    claimed.refresh_from_db()
    assert claimed.status == "succeeded", claimed.error
    return claimed


def test_the_demo_watch_alerts_on_a_planted_incident(demo_aws: str) -> None:
    call_command("seed_demo", "--lines", "2000", stdout=StringIO())
    call_command("seed_demo_aws", "--endpoint-url", demo_aws, "--lines", "2000", stdout=StringIO())
    call_command("seed_demo_watch", stdout=StringIO())
    call_command("seed_demo_watch", stdout=StringIO())  # idempotent
    watch = Watch.objects.get()
    assert (watch.name, watch.instance, watch.source) == (DEMO_WATCH_NAME, "web", "cloudwatch")

    now = timezone.now()
    (first,) = schedule.tick(now)
    _execute(first)
    out = StringIO()
    call_command("demo_incident", "--endpoint-url", demo_aws, stdout=out)
    intruder = out.getvalue().split(" from ")[1].split(" ")[0]
    assert intruder.startswith("198.51.100.")

    (second,) = schedule.tick(now + timedelta(minutes=watch.interval_minutes))
    run = _execute(second)
    assert run.window_start == QueryRun.objects.get(pk=first).window_end
    alert = WatchAlert.objects.get(run=run, finding__identity__contains=f"|{intruder}|")
    assert alert.kind == AlertKind.NEW_FINDING


def test_demo_incident_writes_only_to_a_local_moto(db: Any) -> None:
    with pytest.raises(CommandError, match="never to AWS"):
        call_command("demo_incident", "--endpoint-url", "https://logs.us-east-1.amazonaws.com")
    with pytest.raises(CommandError, match="No demo watch"):
        call_command("demo_incident", "--endpoint-url", "http://127.0.0.1:9")


@pytest.mark.parametrize(("behind", "hurried"), [(None, True), (10, True), (0, False)])
def test_an_incident_lands_inside_the_watchs_next_window(behind: int | None, hurried: bool) -> None:
    from investigations.watches.demo import ATTEMPTS, brute_force

    now = timezone.now()
    ready = (now - timedelta(seconds=60)).replace(microsecond=0)
    last = None if behind is None else ready - timedelta(seconds=behind)
    watch = Watch(lag_seconds=60, interval_minutes=5, last_window_end=last)
    incident = brute_force(
        watch=watch, account_id="1", interface="eni-1", target_ip="10.0.1.10", now=now
    )
    starts = [int(line.split(" ")[10]) for line in incident.records]
    assert len(starts) == ATTEMPTS and incident.hurried is hurried
    window_start = (last or ready - timedelta(minutes=5)).timestamp()
    # A hurried watch runs now and reads up to `ready`; else its next run reads an interval on.
    window_end = ready if hurried else (last or ready) + timedelta(minutes=5)
    assert all(window_start <= s and s + 1 <= window_end.timestamp() for s in starts)
