"""geo: where traffic with external addresses comes from, by country and autonomous system.

One grouped SELECT over `flows` gives flows, packets and bytes per external address (the
packet's address where the logs have it, as external-inbound/-outbound judge it), direction
and action; Python then places each address with the offline data of analysis.geo and adds
them up per country and per AS. Any engine that answers the SELECT (DuckDB, Athena) can run it.
The run's CIDR tables with `country`/`asn`/`as_org` labels override the shipped data.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import duckdb

from analysis import geo
from analysis.analyzers.base import Analyzer, FetchRows, duckdb_rows, flow_columns, register
from analysis.analyzers.external import FLOW_FIELDS, TARGET_FIELDS, direction, inbound, outbound
from analysis.analyzers.grouped import ACTION, OutputColumn, address_text, run_grouped
from analysis.analyzers.params import AnalysisParams
from analysis.analyzers.result import AnalysisResult, ResultTable
from analysis.analyzers.scope import ensure_packet_addresses, scope_summary

# External addresses placed one by one: beyond this many (the smallest by bytes are left
# out, and the summary says how many), the per-country totals would cost more than the query.
MAX_ADDRESS_GROUPS = 200_000
AS_TABLE = "as"
ADDRESSES_TABLE = "addresses"
MEASURES = ("flows", "packets", "bytes")


def _far_end(side: str, columns: Collection[str]) -> str:
    """SQL: the external end's address on `side`, the packet's when the logs carry it."""
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

    def analyze(
        self, connection: duckdb.DuckDBPyConnection, params: AnalysisParams
    ) -> AnalysisResult:
        columns = ensure_packet_addresses(connection, flow_columns(connection))
        return self.analyze_rows(duckdb_rows(connection), params, columns)

    def analyze_rows(
        self, fetch: FetchRows, params: AnalysisParams, columns: Collection[str]
    ) -> AnalysisResult:
        peer = OutputColumn(
            "ip",
            f"CASE WHEN {inbound(params, columns)} THEN {_far_end('src', columns)} "
            f"ELSE {_far_end('dst', columns)} END",
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
            ],
        )
