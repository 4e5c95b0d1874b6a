"""A watch's new-country and rare-AS signals: the real geo analysis over flow lines, its runs
ended through the real lifecycle; a host's first peer in a country or AS organisation is a
finding and an alert once the watch has history, never again for the same pair."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from analysis.engine import FlowEngine
from analysis.findings import NEW_PEER_AS_ORG, NEW_PEER_COUNTRY
from analysis.formats import DEFAULT_FORMAT
from investigations.models import Finding, FindingSighting, QueryRun, RunResult
from investigations.runs import lifecycle
from investigations.timeline import investigation_timeline
from investigations.watches import schedule, services, signals
from investigations.watches.models import AlertKind, Watch, WatchAlert, WatchPeerPlace
from portal.models import WebhookDelivery
from portal.webhooks import create_webhook
from tests.analysis.flowlines import flow
from tests.conftest import wait_for_run

pytestmark = pytest.mark.django_db

HOST = "10.0.1.10"
GOOGLE = flow(HOST, "8.8.8.8", 40000, 53, 17, 1, 100, 0, "ACCEPT")  # US, GOOGLE
QUAD9 = flow(HOST, "9.9.9.9", 40001, 443, 6, 4, 2000, 10, "ACCEPT")  # US, QUAD9-AS-1
CLOUDFLARE = flow(HOST, "1.1.1.1", 40002, 443, 6, 9, 7000, 20, "ACCEPT")  # AU, CLOUDFLARENET
CLOUDFLARE_IN = flow("1.1.1.1", HOST, 443, 40002, 6, 3, 500, 25, "ACCEPT")
S3 = flow(HOST, "52.94.1.1", 40003, 443, 6, 50, 90_000, 30, "ACCEPT")  # an AWS service
AWS_RANGES = {"name": "aws", "entries": [["52.94.0.0/16", {"provider": "AWS", "service": "S3"}]]}


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


class Runs:
    """Each next run of the watch, ended with the geo analysis of the given flow lines."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.start = timezone.now()
        self.count = 0

    def next(
        self, *lines: str, cidr_tables: list[dict[str, Any]] | None = None, shown: bool = True
    ) -> QueryRun:
        """`shown=False`: geo computed for the signals only, as the pipeline does for a watch
        whose analyses lack it."""
        started = schedule.tick(self.start + timedelta(minutes=15 * self.count))
        assert len(started) == 1, started
        self.count += 1
        log = self.tmp_path / f"run{self.count}.log"
        log.write_text("\n".join([" ".join(DEFAULT_FORMAT.names), *lines]) + "\n")
        with FlowEngine() as engine:
            engine.load_files([str(log)])
            geo = engine.run(
                "geo", {"vpc_cidrs": ["10.0.0.0/16"], "cidr_tables": cidr_tables or [AWS_RANGES]}
            )
        claimed = QueryRun.claim(started[0])
        assert claimed is not None
        assert lifecycle.succeed(
            claimed,
            results=[geo] if shown else [],
            records={"total": 1},
            data_read={},
            signal_results=[] if shown else [geo],
        )
        claimed.refresh_from_db()
        return claimed


@pytest.fixture
def runs(watch: Watch, tmp_path: Path) -> Runs:
    return Runs(tmp_path)


def _alerts(run: QueryRun) -> list[tuple[str, str]]:
    return sorted(WatchAlert.objects.filter(run=run).values_list("kind", "summary"))


def test_a_watch_runs_geo_for_its_signals(watch: Watch) -> None:
    assert "geo" in watch.analyses


def test_a_hosts_first_country_alerts_once_and_its_repeat_is_quiet(
    runs: Runs, watch: Watch, analyst: Any, investigation: Any
) -> None:
    create_webhook(
        user=analyst, name="pager", url="https://pager.example.com/hook", events=["watch.alert"]
    )
    first = runs.next(GOOGLE, S3)  # the first run only records what it saw
    assert _alerts(first) == [] and not Finding.objects.exists()
    assert set(WatchPeerPlace.objects.values_list("host", "kind", "value")) == {
        (HOST, "country", "US"),
        (HOST, "as_org", "GOOGLE"),
    }  # the AWS service's address is not a place of its own

    second = runs.next(GOOGLE, S3, CLOUDFLARE, CLOUDFLARE_IN)
    assert _alerts(second) == [
        (
            AlertKind.NEW_COUNTRY,
            f"{HOST} talked to Australia (AU) for the first time in this watch",
        ),
        (AlertKind.RARE_AS, f"{HOST} talked to AS organisation CLOUDFLARENET for the first time"),
    ]
    country = Finding.objects.get(type=NEW_PEER_COUNTRY)
    assert country.identity == f"watch-new-country|AU|{HOST}" and country.run == second
    evidence = country.evidence
    assert (evidence["host"], evidence["country"], evidence["as_org"]) == (
        HOST,
        "AU",
        ["CLOUDFLARENET"],
    )
    assert (evidence["flows"], evidence["bytes"], evidence["peers"]) == (2, 7500, 1)
    assert evidence["first_seen"] == country.first_seen.isoformat()
    alert = WatchAlert.objects.get(run=second, kind=AlertKind.NEW_COUNTRY)
    assert alert.finding == country and alert.details["bytes"] == 7500
    assert Finding.objects.get(type=NEW_PEER_AS_ORG).evidence["country"] == ["AU"]
    deliveries = WebhookDelivery.objects.filter(event="watch.alert")
    assert sorted(d.payload["data"]["kind"] for d in deliveries) == ["new_country", "rare_as"]
    entries = [e for e in investigation_timeline(investigation).entries if e.kind == "watch_alert"]
    assert {e.details["kind"] for e in entries} == {"new_country", "rare_as"}

    third = runs.next(GOOGLE, S3, CLOUDFLARE)  # the same peers again: nothing new
    assert _alerts(third) == []
    assert Finding.objects.count() == 2

    fourth = runs.next(GOOGLE, QUAD9)  # a new AS in a known country: rare-AS only
    assert _alerts(fourth) == [
        (AlertKind.RARE_AS, f"{HOST} talked to AS organisation QUAD9-AS-1 for the first time")
    ]


def test_a_known_pair_a_new_watch_signals_again_is_a_sighting_not_an_alert(
    runs: Runs, watch: Watch, analyst: Any, tmp_path: Path
) -> None:
    runs.next(GOOGLE)
    runs.next(GOOGLE, CLOUDFLARE)
    country = Finding.objects.get(type=NEW_PEER_COUNTRY)
    # The watch is replaced by a new one in the same investigation: its history starts over.
    services.delete_watch(user=analyst, watch=watch)
    again = services.create_watch(
        user=analyst,
        investigation=country.investigation,
        account=watch.account,
        instance="web",
        source="cloudwatch",
        analyses=["detections"],
        interval_minutes=15,
        k=2.0,
        lag_seconds=300,
    )
    later = Runs(tmp_path / "again")
    later.tmp_path.mkdir()
    later.start = runs.start + timedelta(hours=1)
    later.next(GOOGLE)
    run = later.next(GOOGLE, CLOUDFLARE)
    # The same identity: a sighting of the finding the first watch raised, no new alert.
    assert Finding.objects.filter(type=NEW_PEER_COUNTRY).count() == 1
    assert FindingSighting.objects.filter(finding=country, run=run).exists()
    country.refresh_from_db()
    assert country.sighting_count == 2
    assert WatchAlert.objects.filter(watch=again).count() == 0


def test_at_most_a_few_signals_a_run_the_largest_first(runs: Runs) -> None:
    # Documentation addresses placed in 12 countries by a run's own country table.
    countries = ["NL", "DE", "FR", "JP", "BR", "IN", "ZA", "CA", "SE", "NO", "FI", "PL"]
    places = {
        "name": "lab",
        "entries": [
            [f"198.51.100.{i + 1}/32", {"country": code, "as_org": "Lab"}]
            for i, code in enumerate(countries)
        ],
    }
    runs.next(GOOGLE, cidr_tables=[places])
    lines = [
        flow(HOST, f"198.51.100.{i + 1}", 40100 + i, 443, 6, 1, 1000 * (i + 1), 40, "ACCEPT")
        for i in range(len(countries))
    ]
    run = runs.next(GOOGLE, *lines, cidr_tables=[places])
    alerts = WatchAlert.objects.filter(run=run)
    assert alerts.count() == signals.MAX_SIGNALS_PER_RUN == 10
    # 13 new pairs (12 countries, one AS organisation): the 10 with the most bytes are raised.
    raised = set(
        Finding.objects.filter(type=NEW_PEER_COUNTRY).values_list("evidence__country", flat=True)
    )
    assert len(raised) == 9 and {"NL", "DE", "FR"}.isdisjoint(raised)
    assert Finding.objects.filter(type=NEW_PEER_AS_ORG).count() == 1
    assert {f.evidence["new_pairs_not_raised"] for f in Finding.objects.all()} == {3}
    # Those left out are still history: the next run does not raise them.
    assert _alerts(runs.next(GOOGLE, *lines, cidr_tables=[places])) == []


def _made_before_geo(watch: Watch) -> Watch:
    """The watch as one made before geo existed stored it: its analyses without geo."""
    analyses = [name for name in watch.analyses if name != "geo"]
    Watch.objects.filter(pk=watch.pk).update(analyses=analyses)
    watch.refresh_from_db()
    return watch


def test_a_watch_made_before_geo_raises_the_signals_without_showing_geo(
    runs: Runs, watch: Watch
) -> None:
    _made_before_geo(watch)
    first = runs.next(GOOGLE, shown=False)
    assert "geo" not in first.analyses  # what the analyst chose to see is unchanged
    assert signals.signal_analyses(first, first.analyses) == ["geo"]
    assert _alerts(first) == []  # its first run with places only records them
    assert set(WatchPeerPlace.objects.values_list("kind", "value")) == {
        ("country", "US"),
        ("as_org", "GOOGLE"),
    }
    second = runs.next(GOOGLE, CLOUDFLARE, shown=False)
    assert [kind for kind, _ in _alerts(second)] == [AlertKind.NEW_COUNTRY, AlertKind.RARE_AS]
    assert not RunResult.objects.filter(analysis__startswith="geo").exists()


def test_runs_that_show_geo_or_belong_to_no_watch_compute_nothing_more(
    runs: Runs, investigation: Any, analyst: Any
) -> None:
    run = runs.next(GOOGLE)
    assert signals.signal_analyses(run, run.analyses) == []
    assert signals.signal_analyses(run, ["all"]) == []
    alone = QueryRun.objects.create(
        investigation=investigation, requested_by=analyst, analyses=["detections"]
    )
    assert signals.signal_analyses(alone, alone.analyses) == []


def _plant_external_peers(moto_url: str, watch: Watch, now: datetime) -> None:
    """The web instance reaching Google's and Cloudflare's resolvers inside the watch's next
    window (the demo's own recent traffic may have no external peer)."""
    import boto3

    from accounts.demo import DEMO_LOG_GROUP, DEMO_REGION
    from accounts.models import Instance

    window = schedule.next_window(watch, now)
    assert window is not None
    web = Instance.objects.get(account=watch.account, name="web")
    at = int(window.end.timestamp()) - 60
    lines = [
        f"2 {watch.account.account_id} {web.interfaces[0]} {web.private_ips[0]} {peer} "
        f"{40000 + n} 443 6 4 900 {at + n} {at + n + 1} ACCEPT OK"
        for n, peer in enumerate(("8.8.8.8", "1.1.1.1"))
    ]
    logs = boto3.client(
        "logs",
        endpoint_url=moto_url,
        region_name=DEMO_REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    logs.put_log_events(
        logGroupName=DEMO_LOG_GROUP,
        logStreamName=f"{web.interfaces[0]}-all",
        logEvents=[{"timestamp": (at + n) * 1000, "message": line} for n, line in enumerate(lines)],
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_a_worker_computes_geo_for_an_old_watchs_signals(
    celery_worker_process: Any, watch: Watch, moto_endpoint: str, settings: Any
) -> None:
    settings.RUN_PART_SECONDS = 7 * 86400
    _made_before_geo(watch)
    now = timezone.now()
    _plant_external_peers(moto_endpoint, watch, now)
    started = schedule.tick(now)
    assert len(started) == 1
    run = wait_for_run(QueryRun.objects.get(pk=started[0]), timeout=180)
    assert run.status == "succeeded", run.error + celery_worker_process.log()[-3000:]
    assert "geo" not in run.analyses
    assert not run.results.filter(analysis__startswith="geo").exists()
    # The run's external peers were placed and recorded as the watch's history.
    recorded = set(
        WatchPeerPlace.objects.filter(watch=watch, first_run=run).values_list("kind", "value")
    )
    assert {("country", "US"), ("as_org", "GOOGLE"), ("as_org", "CLOUDFLARENET")} <= recorded
