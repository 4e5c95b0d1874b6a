"""A watch's new-country and rare-AS signals: the real geo analysis over flow lines, its runs
ended through the real lifecycle; a host's first peer in a country or AS organisation is a
finding and an alert once the watch has history, never again for the same pair."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from analysis.engine import FlowEngine
from analysis.findings import NEW_PEER_AS_ORG, NEW_PEER_COUNTRY
from analysis.formats import DEFAULT_FORMAT
from investigations.models import Finding, FindingSighting, QueryRun
from investigations.runs import lifecycle
from investigations.timeline import investigation_timeline
from investigations.watches import schedule, services, signals
from investigations.watches.models import AlertKind, Watch, WatchAlert, WatchPeerPlace
from portal.models import WebhookDelivery
from portal.webhooks import create_webhook
from tests.analysis.flowlines import flow

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

    def next(self, *lines: str, cidr_tables: list[dict[str, Any]] | None = None) -> QueryRun:
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
        assert lifecycle.succeed(claimed, results=[geo], records={"total": 1}, data_read={})
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
