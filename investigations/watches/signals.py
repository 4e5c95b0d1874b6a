"""New-country and rare-AS signals: a host's first peer in a country or AS organisation.

Called by `runs.lifecycle` while it stores a run's results, inside the transaction that ends
the run, so the signals are findings like any detection's (stable identity: seen again later,
one is a sighting) and `watches.alerts` raises a `new_country` or `rare_as` alert for each new
one. Only for a watch's run: the geo analysis's `hosts` table gives, per internal host, the
countries and AS organisations of its external peers. A watch whose analyses lack geo (one made
before geo existed) still has its runs compute it, for these signals only (`signal_analyses`):
what the analyst chose to see is unchanged, the table is not stored. Each (host, country) and
(host, AS organisation) pair is kept in `WatchPeerPlace`, the watch's history; a pair not in it
is a signal once an earlier run of the watch recorded places (its first such run only records).

Quiet by design: peers that are AWS services (the logs' pkt-*-aws-service or the run's AWS
ip-ranges tables) and addresses the geo data cannot place are left out, and at most
MAX_SIGNALS_PER_RUN signals a run are raised (the largest by bytes; the rest are recorded as
seen and counted in the evidence). The shipped data names AS organisations, not AS numbers, so
an AS is its organisation's name.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from analysis.analyzers.result import AnalysisResult, ResultTable
from analysis.findings import NEW_PEER_AS_ORG, NEW_PEER_COUNTRY
from investigations.choices import RunStatus
from investigations.models import QueryRun, RunResult
from investigations.watches.models import PeerPlaceKind, WatchPeerPlace, WatchRun

GEO = "geo"
HOSTS_TABLE = "hosts"
MAX_SIGNALS_PER_RUN = 10
DETECTION_IDS = {PeerPlaceKind.COUNTRY: "watch-new-country", PeerPlaceKind.AS_ORG: "watch-rare-as"}
FINDING_TYPES = {PeerPlaceKind.COUNTRY: NEW_PEER_COUNTRY, PeerPlaceKind.AS_ORG: NEW_PEER_AS_ORG}
SEVERITY = {PeerPlaceKind.COUNTRY: 4, PeerPlaceKind.AS_ORG: 3}
_VALUE_MAX = WatchPeerPlace._meta.get_field("value").max_length or 200


@dataclass
class _Pair:
    """One (host, country) or (host, AS organisation) pair of this run, its traffic summed."""

    host: str
    kind: str
    value: str
    flows: int = 0
    bytes: int = 0
    peers: int = 0
    first_seen: str | None = None
    country_name: str | None = None
    # The other side of the pair: the AS organisations in the country, or the AS's countries.
    beside: set[str] = field(default_factory=set)

    def add(self, row: dict[str, Any], beside: str | None) -> None:
        self.flows += int(row.get("flows") or 0)
        self.bytes += int(row.get("bytes") or 0)
        self.peers += int(row.get("peers") or 0)
        seen = row.get("first_seen")
        if seen and (self.first_seen is None or str(seen) < self.first_seen):
            self.first_seen = str(seen)
        if beside:
            self.beside.add(beside)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.host, self.kind, self.value)


def _hosts_table(results: Sequence[AnalysisResult]) -> ResultTable | None:
    for result in results:
        if result.name == GEO:
            for table in result.tables:
                if table.name == HOSTS_TABLE:
                    return table
    return None


def _pairs(table: ResultTable) -> dict[tuple[str, str, str], _Pair]:
    pairs: dict[tuple[str, str, str], _Pair] = {}
    for row in table.rows:
        host = row.get("host")
        if not host or row.get("aws_service"):
            continue
        country, org = row.get("country"), row.get("as_org")
        for kind, value, beside in (
            (PeerPlaceKind.COUNTRY, country, org),
            (PeerPlaceKind.AS_ORG, org, country),
        ):
            if not value:
                continue
            value = str(value)[:_VALUE_MAX]
            pair = pairs.setdefault(
                (str(host), kind, value), _Pair(host=str(host), kind=kind, value=value)
            )
            if kind == PeerPlaceKind.COUNTRY:
                pair.country_name = row.get("country_name")
            pair.add(row, beside)
    return pairs


def signal_analyses(run: QueryRun, chosen: Collection[str]) -> list[str]:
    """The analyses a run computes for the watch's signals beyond the `chosen` ones it shows:
    geo, for a watch's run that does not show it; none for other runs."""
    if GEO in chosen or "all" in chosen:
        return []
    if not WatchRun.objects.filter(run=run).exists():
        return []
    return [GEO]


def _has_history(watch_run: WatchRun) -> bool:
    """An earlier succeeded run of the watch stored a hosts table, or recorded peer places
    (a run that computed geo only for the signals), to compare with."""
    earlier = WatchRun.objects.filter(
        watch_id=watch_run.watch_id,
        run__status=RunStatus.SUCCEEDED,
        window_end__lte=watch_run.window_start,
    ).exclude(pk=watch_run.pk)
    runs = earlier.values("run")
    return (
        WatchPeerPlace.objects.filter(watch_id=watch_run.watch_id, first_run__in=runs).exists()
        or RunResult.objects.filter(run__in=runs, analysis=f"{GEO}:{HOSTS_TABLE}").exists()
    )


def novel_peer_findings(run: QueryRun, results: Sequence[AnalysisResult]) -> list[dict[str, Any]]:
    """Findings for this watch run's pairs its watch never saw (none for other runs); every
    pair it saw joins the watch's history."""
    table = _hosts_table(results)
    if table is None:
        return []
    watch_run = WatchRun.objects.filter(run=run).first()
    if watch_run is None:
        return []
    pairs = _pairs(table)
    if not pairs:
        return []
    known = set(
        WatchPeerPlace.objects.filter(
            watch_id=watch_run.watch_id, host__in={host for host, _, _ in pairs}
        ).values_list("host", "kind", "value")
    )
    new = [pair for key, pair in pairs.items() if key not in known]
    WatchPeerPlace.objects.bulk_create(
        [
            WatchPeerPlace(
                watch_id=watch_run.watch_id,
                host=pair.host,
                kind=pair.kind,
                value=pair.value,
                first_run=run,
            )
            for pair in new
        ],
        ignore_conflicts=True,
    )
    if not new or not _has_history(watch_run):
        return []
    new.sort(key=lambda p: (-p.bytes, -p.flows, p.host, p.kind, p.value))
    raised = new[:MAX_SIGNALS_PER_RUN]
    left_out = len(new) - len(raised)
    return [_finding(pair, left_out) for pair in raised]


def _finding(pair: _Pair, left_out: int) -> dict[str, Any]:
    detection = DETECTION_IDS[PeerPlaceKind(pair.kind)]
    # The pair's own side is one value; the other side lists what this run saw with it.
    country: str | list[str]
    as_org: str | list[str]
    if pair.kind == PeerPlaceKind.COUNTRY:
        named = f"{pair.country_name} ({pair.value})" if pair.country_name else pair.value
        title = f"{pair.host} talked to {named} for the first time in this watch"
        country, as_org = pair.value, sorted(pair.beside)
        explanation = (
            f"No earlier run of this watch saw {pair.host} exchange traffic with an address in "
            f"{named}. AS organisations: {', '.join(sorted(pair.beside)) or 'unknown'}."
        )
    else:
        title = f"{pair.host} talked to AS organisation {pair.value} for the first time"
        country, as_org = sorted(pair.beside), pair.value
        explanation = (
            f"No earlier run of this watch saw {pair.host} exchange traffic with an address of "
            f"the AS organisation {pair.value} (countries: "
            f"{', '.join(sorted(pair.beside)) or 'unknown'})."
        )
    evidence: dict[str, Any] = {
        "detection_id": detection,
        "host": pair.host,
        "targets": [pair.host],
        "country": country,
        "as_org": as_org,
        "peers": pair.peers,
        "flows": pair.flows,
        "bytes": pair.bytes,
        "first_seen": pair.first_seen,
    }
    if left_out:
        evidence["new_pairs_not_raised"] = left_out
    return {
        "type": FINDING_TYPES[PeerPlaceKind(pair.kind)],
        "identity": f"{detection}|{pair.value}|{pair.host}",
        "severity": SEVERITY[PeerPlaceKind(pair.kind)],
        "title": title,
        "explanation": explanation,
        "evidence": evidence,
        "first_seen": pair.first_seen,
    }
