"""Watches: made from a finished AWS run, changed only by the investigation's analysts (audited),
started by the tick exactly once per due time over contiguous windows, and alerting on what a
run shows that the watch's earlier runs did not."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from investigations.choices import RunStatus
from investigations.models import QueryRun
from investigations.runs import lifecycle
from investigations.runs.submit import submit_run
from investigations.services import RunRequestInvalid
from investigations.timeline import investigation_timeline
from investigations.watches import schedule, services
from investigations.watches.models import AlertKind, Watch, WatchAlert, WatchRun
from portal.models import AuditEvent, WebhookDelivery
from portal.webhooks import create_webhook
from tests.concurrency import run_together
from tests.conftest import client_for
from tests.investigations.watch_helpers import finding, succeed

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_account(moto_endpoint: str, db: Any) -> Any:
    from accounts.demo import seed_demo_account

    return seed_demo_account(moto_endpoint, lines=2000)


@pytest.fixture
def watch(demo_account: Any, investigation: Any, analyst: Any) -> Watch:
    return services.create_watch(
        user=analyst,
        investigation=investigation,
        account=demo_account,
        instance="web",
        source="cloudwatch",
        analyses=["detections"],
        interval_minutes=15,
        k=2.0,
        lag_seconds=300,
    )


def _tick(at: Any) -> QueryRun:
    started = schedule.tick(at)
    assert len(started) == 1, started
    return QueryRun.objects.get(pk=started[0])


def _window(run: QueryRun) -> tuple[Any, Any]:
    assert run.window_start is not None and run.window_end is not None
    return run.window_start, run.window_end


def test_an_analyst_watches_a_finished_aws_run(
    demo_account: Any, investigation: Any, analyst: Any
) -> None:
    run = submit_run(
        user=analyst,
        investigation=investigation,
        analyses=["ssh-inbound"],
        account=demo_account,
        instance="web",
        source="s3",
    )
    with pytest.raises(RunRequestInvalid, match="succeeded"):
        services.create_watch_from_run(user=analyst, run=run, interval_minutes=60, k=3)
    run = succeed(run)
    watch = services.create_watch_from_run(user=analyst, run=run, interval_minutes=60, k=3)
    assert (watch.account, watch.source, watch.source_run) == (demo_account, "s3", run)
    assert watch.instance == run.source_config["instance"]["instance_id"]
    assert watch.analyses == ["ssh-inbound", "traffic-summary", "external-summary", "geo"]
    assert watch.parameters["target_ips"] == run.parameters["target_ips"]
    assert watch.next_run_at <= timezone.now() and not watch.paused
    event = AuditEvent.objects.get(action="watch.created")
    assert event.actor == analyst and event.details["source_run"] == run.pk


def test_a_file_run_cannot_be_watched(investigation: Any, analyst: Any) -> None:
    run = QueryRun.objects.create(
        investigation=investigation, requested_by=analyst, analyses=["traffic-summary"]
    )
    with pytest.raises(RunRequestInvalid, match="AWS source"):
        services.create_watch_from_run(user=analyst, run=run, interval_minutes=60, k=3)


@pytest.mark.parametrize(("interval", "k"), [(0, 3.0), (7 * 24 * 60 + 1, 3.0), (60, -1.0)])
def test_a_bad_interval_or_k_is_refused(
    demo_account: Any, investigation: Any, analyst: Any, interval: int, k: float
) -> None:
    with pytest.raises(RunRequestInvalid):
        services.create_watch(
            user=analyst,
            investigation=investigation,
            account=demo_account,
            instance="web",
            source="cloudwatch",
            analyses=["detections"],
            interval_minutes=interval,
            k=k,
        )
    assert not Watch.objects.exists()


def test_managers_and_outsiders_cannot_change_a_watch(
    watch: Watch, manager: Any, outsider: Any
) -> None:
    for user in (manager, outsider):
        with pytest.raises(PermissionDenied):
            services.pause_watch(user=user, watch=watch)
        with pytest.raises(PermissionDenied):
            services.update_watch(user=user, watch=watch, interval_minutes=30)
        with pytest.raises(PermissionDenied):
            services.delete_watch(user=user, watch=watch)
    assert Watch.objects.filter(pk=watch.pk, paused=False, interval_minutes=15).exists()
    assert Watch.objects.for_user(manager).filter(pk=watch.pk).exists()
    assert not Watch.objects.for_user(outsider).exists()


def test_pause_resume_edit_and_delete_are_audited(watch: Watch, teammate: Any) -> None:
    services.pause_watch(user=teammate, watch=watch)
    with pytest.raises(RunRequestInvalid, match="already paused"):
        services.pause_watch(user=teammate, watch=watch)
    assert schedule.tick(timezone.now() + timedelta(days=1)) == []  # paused: never started
    services.resume_watch(user=teammate, watch=watch)
    due = Watch.objects.get(pk=watch.pk).next_run_at
    services.update_watch(user=teammate, watch=watch, interval_minutes=45, k=4.5)
    watch.refresh_from_db()
    assert (watch.interval_minutes, watch.k, watch.next_run_at) == (
        45,
        4.5,
        due + timedelta(minutes=30),
    )
    services.delete_watch(user=teammate, watch=watch)
    assert not Watch.objects.exists()
    actions = list(
        AuditEvent.objects.filter(action__startswith="watch.")
        .order_by("id")
        .values_list("action", "actor__username")
    )
    assert actions == [
        ("watch.created", "alice"),
        ("watch.paused", "bob"),
        ("watch.resumed", "bob"),
        ("watch.updated", "bob"),
        ("watch.deleted", "bob"),
    ]
    updated = AuditEvent.objects.get(action="watch.updated").details
    assert updated["interval_minutes"] == {"from": 15, "to": 45}


@pytest.mark.django_db(transaction=True)
def test_two_ticks_at_once_start_a_due_watch_once(watch: Watch) -> None:
    now = timezone.now()
    copies = [copy.deepcopy(Watch.objects.get(pk=watch.pk)) for _ in range(2)]

    def start(w: Watch) -> None:
        schedule.start_run(w, now)

    def tick() -> None:
        schedule.tick(now)

    errors = run_together(*[lambda w=w: start(w) for w in copies])
    assert errors == []
    assert WatchRun.objects.filter(watch=watch).count() == 1
    assert QueryRun.objects.count() == 1
    errors = run_together(tick, tick)
    assert errors == [] and QueryRun.objects.count() == 1  # not due again until the interval


def test_windows_are_contiguous_over_three_ticks(watch: Watch) -> None:
    start = timezone.now()
    first = _tick(start)
    assert schedule.tick(start + timedelta(minutes=5)) == []  # not due yet
    succeed(first)
    second = _tick(start + timedelta(minutes=15, seconds=3))
    succeed(second)
    third = _tick(start + timedelta(minutes=31))
    windows = [_window(r) for r in (first, second, third)]
    lag = timedelta(seconds=300)
    assert windows[0][1] - windows[0][0] == timedelta(minutes=15)
    assert windows[0][1] == (start - lag).replace(microsecond=0)
    assert windows[1][0] == windows[0][1] and windows[2][0] == windows[1][1]
    assert windows[2][1] == (start + timedelta(minutes=31) - lag).replace(microsecond=0)
    assert [r.watch_run.watch_id for r in (first, second, third)] == [watch.pk] * 3
    assert {r.source for r in (first, second, third)} == {"cloudwatch"}


def test_a_missed_stretch_runs_once_late(watch: Watch) -> None:
    start = timezone.now()
    succeed(_tick(start))
    late = start + timedelta(hours=5)  # beat was down for 20 ticks
    window = _window(_tick(late))
    assert window[1] - window[0] == timedelta(hours=5)
    assert schedule.tick(late) == [] and schedule.tick(late + timedelta(minutes=1)) == []


def test_a_watch_waits_for_its_previous_run_and_its_accounts_cap(
    watch: Watch, settings: Any, analyst: Any, investigation: Any, demo_account: Any
) -> None:
    start = timezone.now()
    first = _tick(start)
    later = start + timedelta(minutes=20)
    assert schedule.tick(later) == []  # its own run is still queued
    succeed(first)
    settings.RUN_MAX_PER_ACCOUNT = 1
    other = submit_run(
        user=analyst,
        investigation=investigation,
        analyses=["traffic-summary"],
        account=demo_account,
        instance="web",
        source="s3",
    )
    due = Watch.objects.get(pk=watch.pk).next_run_at
    assert schedule.tick(later) == []
    assert Watch.objects.get(pk=watch.pk).next_run_at == due  # left due, not skipped
    lifecycle.cancel(other)
    second = _tick(later)
    assert second.window_start == first.window_end


def test_a_failed_run_gives_its_window_back(watch: Watch) -> None:
    start = timezone.now()
    first = _tick(start)
    claimed = QueryRun.claim(first.pk)
    assert claimed is not None and lifecycle.fail(claimed, error="throttled")
    second = _tick(start + timedelta(minutes=16))
    assert second.window_start == first.window_start  # the failed window is read again
    assert not WatchAlert.objects.exists()


def test_a_run_that_cannot_start_keeps_its_window_and_says_why(watch: Watch) -> None:
    Watch.objects.filter(pk=watch.pk).update(instance="i-gone")
    assert schedule.tick(timezone.now()) == []
    watch.refresh_from_db()
    assert "No discovered instance" in watch.last_error and watch.last_window_end is None


def _alerts(run: QueryRun) -> list[tuple[str, str]]:
    return sorted(WatchAlert.objects.filter(run=run).values_list("kind", "summary"))


def test_new_findings_and_severity_rises_alert_sightings_do_not(
    watch: Watch, analyst: Any, investigation: Any
) -> None:
    create_webhook(
        user=analyst, name="pager", url="https://pager.example.com/hook", events=["watch.alert"]
    )
    start = timezone.now()
    first = succeed(_tick(start), findings=[finding("203.0.113.50", 5)])
    assert [k for k, _ in _alerts(first)] == [AlertKind.NEW_FINDING]
    second = succeed(
        _tick(start + timedelta(minutes=15)),
        findings=[finding("203.0.113.50", 5), finding("198.51.100.77", 4)],
    )
    assert _alerts(second) == [
        (AlertKind.NEW_FINDING, "New finding: SSH brute force from 198.51.100.77")
    ]
    third = succeed(
        _tick(start + timedelta(minutes=30)),
        findings=[finding("203.0.113.50", 8), finding("198.51.100.77", 4)],
    )
    alert = WatchAlert.objects.get(run=third)
    assert alert.kind == AlertKind.SEVERITY_RISE and alert.details["previous_severity"] == 5.0
    assert alert.finding is not None and alert.finding.identity.endswith("203.0.113.50|10.0.1.10")
    deliveries = WebhookDelivery.objects.filter(event="watch.alert")
    assert deliveries.count() == 3
    assert {d.payload["data"]["kind"] for d in deliveries} == {"new_finding", "severity_rise"}
    entries = [e for e in investigation_timeline(investigation).entries if e.kind == "watch_alert"]
    assert len(entries) == 3 and entries[0].details["kind"] == "severity_rise"
    page = client_for(analyst).get(investigation.get_absolute_url()).content.decode()
    assert "alerted: New finding: SSH brute force from 198.51.100.77" in page


def test_spikes_alert_only_above_mean_plus_k_sigma_after_three_runs(watch: Watch) -> None:
    start = timezone.now()
    runs = []
    # Two earlier runs are no baseline yet: a jump on the third run is not an alert.
    for i, (rejected, external) in enumerate([(10, 1000), (14, 1200), (500, 90_000)]):
        runs.append(
            succeed(
                _tick(start + timedelta(minutes=15 * i)), rejected=rejected, external_bytes=external
            )
        )
    assert _alerts(runs[-1]) == []
    # Baseline 10, 14, 500 rejects: mean 174.7, sigma 230.1, k=2 → 635; 600 is inside it.
    calm = succeed(_tick(start + timedelta(minutes=45)), rejected=600, external_bytes=1100)
    assert _alerts(calm) == []
    spike = succeed(_tick(start + timedelta(minutes=60)), rejected=5000, external_bytes=10**7)
    kinds = {kind: summary for kind, summary in _alerts(spike)}
    assert set(kinds) == {AlertKind.REJECTED_SPIKE, AlertKind.EXTERNAL_BYTES_SPIKE}
    assert kinds[AlertKind.REJECTED_SPIKE].startswith("5,000 REJECT flows")
    details = WatchAlert.objects.get(run=spike, kind=AlertKind.EXTERNAL_BYTES_SPIKE).details
    assert details["value"] == 10**7 and details["baseline_runs"] == 4
    assert WatchRun.objects.get(run=spike).rejected_flows == 5000


def test_skipdata_records_raise_a_coverage_gap(watch: Watch) -> None:
    run = succeed(_tick(timezone.now()), skipdata=12)
    alert = WatchAlert.objects.get(run=run)
    assert alert.kind == AlertKind.COVERAGE_GAP and alert.details["skipdata"] == 12
    assert run.status == RunStatus.SUCCEEDED


def test_a_run_no_watch_started_raises_no_alert(investigation: Any, analyst: Any) -> None:
    run = QueryRun.objects.create(
        investigation=investigation, requested_by=analyst, analyses=["detections"]
    )
    succeed(run, skipdata=3, findings=[finding("203.0.113.50")])
    assert not WatchAlert.objects.exists()
