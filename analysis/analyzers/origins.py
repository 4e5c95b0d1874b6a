"""geo: where traffic with external addresses comes from, by country and autonomous system.

One grouped SELECT over `flows` gives flows, packets and bytes per external address (the
packet's address where the logs have it, as external-inbound/-outbound judge it), direction
and action; Python then places each address with the offline data of analysis.geo and adds
them up per country and per AS. Any engine that answers the SELECT (DuckDB, Athena) can run it.
A second grouped SELECT, by internal host and external address, gives the `hosts` table: per
internal host, the countries and AS organisations of its peers (top_n rows), which a watch's
new-country and rare-AS signals compare run by run.
The run's CIDR tables with `country`/`asn`/`as_org` labels override the shipped data.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from analysis import geo
from analysis.analyzers.base import Analyzer, FetchRows, register
from analysis.analyzers.external import FLOW_FIELDS, TARGET_FIELDS, direction, inbound, outbound
from analysis.analyzers.grouped import (
    ACTION,
    FIRST_SEEN,
    OutputColumn,
    address_text,
    run_grouped,
)
from analysis.analyzers.params import AnalysisParams
from analysis.analyzers.result import AnalysisResult, ResultTable
from analysis.analyzers.scope import scope_summary

# External addresses placed one by one: beyond this many (the smallest by bytes are left
# out, and the summary says how many), the per-country totals would cost more than the query.
MAX_ADDRESS_GROUPS = 200_000
AS_TABLE = "as"
ADDRESSES_TABLE = "addresses"
HOSTS_TABLE = "hosts"
HOSTS_COLUMNS = [
    "host",
    "country",
    "country_name",
    "asn",
    "as_org",
    "aws_service",
    "peers",
    "flows",
    "packets",
    "bytes",
    "first_seen",
]
MEASURES = ("flows", "packets", "bytes")


def _end(side: str, columns: Collection[str]) -> str:
    """SQL: the address on `side`, the packet's when the logs carry it."""
    packet = f"pkt_{side}_ip"
    if packet in columns:
        return f"CASE WHEN {packet} IS NOT NULL THEN {packet} ELSE {side}_ip END"
    return f"{side}_ip"


def _add(into: dict[str, Any], row: dict[str, Any]) -> None:
    for measure in MEASURES:
        into[measure] += int(row.get(measure) or 0)


def _ranked(groups: dict[Any, dict[str, Any]], rank: str) -> list[dict[str, Any]]:
    rows = []
    for group in groups.values():
        hosts = group.pop("_hosts")
        rows.append({**group, "distinct_hosts": len(hosts)})
    rows.sort(key=lambda r: (-r[rank], -r["flows"], str(r.get("country") or r.get("as_org"))))
    return rows


@register
class GeoAnalyzer(Analyzer):
    name = "geo"
    title = "Where traffic comes from"
    description = (
        "Flows, packets and bytes with external addresses by country and by autonomous system "
        "(offline data shipped with the portal), inbound and outbound, accepted and rejected."
    )
    required_fields = FLOW_FIELDS
    optional_fields = TARGET_FIELDS
    local_only = ""
    order = 38
    packet_addresses = True

    def analyze_rows(
        self, fetch: FetchRows, params: AnalysisParams, columns: Collection[str]
    ) -> AnalysisResult:
        peer = OutputColumn(
            "ip",
            f"CASE WHEN {inbound(params, columns)} THEN {_end('src', columns)} "
            f"ELSE {_end('dst', columns)} END",
            address_text,
        )
        grouped = run_grouped(
            fetch,
            keys=(direction(params, columns), peer, ACTION),
            condition=f"({inbound(params, columns)} OR {outbound(params, columns)})",
            rank="bytes",
            limit=MAX_ADDRESS_GROUPS,
        )
        shipped = geo.lookup_many(str(row["ip"]) for row in grouped.rows if row.get("ip"))
        overrides = geo.Overrides(params.cidr_tables)
        places = {ip: overrides.apply(ip, place) for ip, place in shipped.items()}
        hosts = self._hosts(fetch, params, columns, peer, places, overrides)
        rank = params.rank_by
        by_country: dict[tuple[Any, ...], dict[str, Any]] = {}
        by_as: dict[tuple[Any, ...], dict[str, Any]] = {}
        addresses: list[dict[str, Any]] = []
        for row in grouped.rows:
            place = places.get(str(row.get("ip")))
            code = place.country_code if place else None
            name = place.country_name if place else None
            asn = place.asn if place else None
            org = place.as_org if place else None
            how = (row["direction"], row["action"])
            country = by_country.setdefault(
                (code, *how),
                {
                    "country": code,
                    "country_name": name,
                    "direction": how[0],
                    "action": how[1],
                    "_hosts": set(),
                    **dict.fromkeys(MEASURES, 0),
                },
            )
            system = by_as.setdefault(
                (asn, org, *how),
                {
                    "asn": asn,
                    "as_org": org,
                    "direction": how[0],
                    "action": how[1],
                    "_hosts": set(),
                    **dict.fromkeys(MEASURES, 0),
                },
            )
            for group in (country, system):
                _add(group, row)
                group["_hosts"].add(row["ip"])
            addresses.append(
                {
                    "ip": row["ip"],
                    "country": code,
                    "asn": asn,
                    "as_org": org,
                    "direction": how[0],
                    "action": how[1],
                    **{m: int(row.get(m) or 0) for m in MEASURES},
                }
            )
        countries = _ranked(by_country, rank)
        systems = _ranked(by_as, rank)
        addresses.sort(key=lambda r: (-r[rank], -r["flows"], str(r["ip"])))
        source = geo.source()
        summary: dict[str, Any] = {
            **grouped.totals(),
            "groups": len(countries),
            "rank_by": rank,
            "countries": len({row["country"] for row in countries if row["country"]}),
            "autonomous_systems": len({(r["asn"], r["as_org"]) for r in systems if r["as_org"]}),
            "addresses": len({row["ip"] for row in addresses}),
            "geo_source": source.to_dict(),
            "geo_tables": overrides.names,
            **scope_summary(params),
        }
        if grouped.truncated:
            summary["geo_note"] = (
                f"Only the {len(grouped.rows):,} largest of {grouped.total_groups:,} address "
                "groups (by bytes) were placed; the country and AS tables leave the rest out, "
                "the totals count them."
            )
        top = params.top_n
        return AnalysisResult(
            name=self.name,
            title=self.title,
            columns=[
                "country",
                "country_name",
                "direction",
                "action",
                "distinct_hosts",
                *MEASURES,
            ],
            rows=countries,
            total_groups=len(countries),
            truncated=False,
            summary=summary,
            tables=[
                ResultTable(
                    name=AS_TABLE,
                    title="By autonomous system",
                    columns=["asn", "as_org", "direction", "action", "distinct_hosts", *MEASURES],
                    rows=systems[:top],
                    total_groups=len(systems),
                    truncated=len(systems) > top,
                ),
                ResultTable(
                    name=ADDRESSES_TABLE,
                    title="External addresses placed",
                    columns=["ip", "country", "asn", "as_org", "direction", "action", *MEASURES],
                    rows=addresses,
                    total_groups=grouped.total_groups,
                    truncated=grouped.truncated,
                ),
                hosts,
            ],
        )

    def _hosts(
        self,
        fetch: FetchRows,
        params: AnalysisParams,
        columns: Collection[str],
        peer: OutputColumn,
        places: dict[str, geo.GeoInfo | None],
        overrides: geo.Overrides,
    ) -> ResultTable:
        """Per internal host, the countries and AS organisations of its external peers (what a
        watch's new-country and rare-AS signals compare run by run). A peer that is an AWS
        service (the logs' pkt-*-aws-service, or the run's AWS ip-ranges tables) says which."""
        is_inbound = inbound(params, columns)
        host = OutputColumn(
            "host",
            f"CASE WHEN {is_inbound} THEN {_end('dst', columns)} ELSE {_end('src', columns)} END",
            address_text,
        )
        keys = [host, peer]
        if {"pkt_src_aws_service", "pkt_dst_aws_service"} <= set(columns):
            keys.append(
                OutputColumn(
                    "aws_service",
                    f"CASE WHEN {is_inbound} THEN pkt_src_aws_service ELSE pkt_dst_aws_service END",
                )
            )
        grouped = run_grouped(
            fetch,
            keys=tuple(keys),
            extras=(FIRST_SEEN,),
            condition=f"({is_inbound} OR {outbound(params, columns)})",
            rank="bytes",
            limit=MAX_ADDRESS_GROUPS,
        )
        unplaced = {str(r["ip"]) for r in grouped.rows if r.get("ip")} - set(places)
        for ip, place in geo.lookup_many(sorted(unplaced)).items():
            places[ip] = overrides.apply(ip, place)
        from analysis.detections.base import AwsServiceRanges  # imports the analyzers

        aws = AwsServiceRanges(params.cidr_tables)
        pairs: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in grouped.rows:
            ip = str(row.get("ip"))
            place = places.get(ip)
            service = row.get("aws_service") or aws.service_of(ip)
            code = place.country_code if place else None
            asn = place.asn if place else None
            org = place.as_org if place else None
            group = pairs.setdefault(
                (row["host"], code, asn, org, service),
                {
                    "host": row["host"],
                    "country": code,
                    "country_name": place.country_name if place else None,
                    "asn": asn,
                    "as_org": org,
                    "aws_service": service,
                    "_peers": set(),
                    **dict.fromkeys(MEASURES, 0),
                    "first_seen": None,
                },
            )
            _add(group, row)
            group["_peers"].add(ip)
            seen = row.get("first_seen")
            if seen is not None and (group["first_seen"] is None or seen < group["first_seen"]):
                group["first_seen"] = seen
        rows = []
        for group in pairs.values():
            peers = group.pop("_peers")
            rows.append({**group, "peers": len(peers)})
        rank = params.rank_by
        rows.sort(key=lambda r: (-r[rank], -r["flows"], str(r["host"]), str(r["country"])))
        top = params.top_n
        return ResultTable(
            name=HOSTS_TABLE,
            title="Internal hosts by peer country and AS",
            columns=HOSTS_COLUMNS,
            rows=rows[:top],
            total_groups=len(rows),
            truncated=len(rows) > top or grouped.truncated,
        )
