"""geo: where traffic with external addresses comes from, by country and autonomous system.

One SELECT over `flows`, one scan with two grouping sets, gives flows, packets and bytes per
external address (the packet's address where the logs have it, as external-inbound/-outbound
judge it), direction and action, and per internal host and external address (the `hosts`
table: per internal host, the countries and AS organisations of its peers, top_n rows, which a
watch's new-country and rare-AS signals compare run by run). Python then places each distinct
address once with the offline data of analysis.geo (an uploaded AS database first, in one
set-based join) and adds them up per country and per AS. Any engine that answers the SELECT
(DuckDB, Athena) can run it.
The run's CIDR tables with `country`/`asn`/`as_org` labels override both.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from analysis import geo
from analysis.addresses import address_value, int_to_ip
from analysis.analyzers.base import Analyzer, FetchRows, register
from analysis.analyzers.external import FLOW_FIELDS, TARGET_FIELDS, inbound, outbound
from analysis.analyzers.grouped import iso_time
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


def peer_groups_sql(params: AnalysisParams, columns: Collection[str], limit: int) -> str:
    """Both groupings in one scan: per (direction, address, action) and per (internal host,
    address, AWS service), each ranked by bytes and cut at `limit`, with its group count and
    totals. `per_host` says which grouping a row is (GROUPING(), which DuckDB and Trino have)."""
    is_inbound = inbound(params, columns)
    services = {"pkt_src_aws_service", "pkt_dst_aws_service"} <= set(columns)
    service_columns = "pkt_src_aws_service, pkt_dst_aws_service, " if services else ""
    service = (
        "CASE WHEN is_inbound THEN pkt_src_aws_service ELSE pkt_dst_aws_service END"
        if services
        else "CAST(NULL AS VARCHAR)"
    )
    totals = ", ".join(f"SUM({m}) OVER (PARTITION BY per_host) AS total_{m}" for m in MEASURES)
    return (
        "WITH marked AS (\n"
        f"    SELECT {is_inbound} AS is_inbound, {_end('src', columns)} AS src_end,\n"
        f"           {_end('dst', columns)} AS dst_end, {service_columns}action, packets,\n"
        "           bytes, start_ts\n"
        "    FROM flows\n"
        f"    WHERE ({is_inbound} OR {outbound(params, columns)})\n"
        "), peers AS (\n"
        "    SELECT CASE WHEN is_inbound THEN 'inbound' ELSE 'outbound' END AS direction,\n"
        "           CASE WHEN is_inbound THEN src_end ELSE dst_end END AS ip,\n"
        "           CASE WHEN is_inbound THEN dst_end ELSE src_end END AS host,\n"
        f"           {service} AS aws_service, action, packets, bytes, start_ts\n"
        "    FROM marked\n"
        "), grouped_rows AS (\n"
        "    SELECT GROUPING(direction) AS per_host, direction, ip, action, host, aws_service,\n"
        "           COUNT(*) AS flows, COALESCE(SUM(packets), 0) AS packets,\n"
        "           COALESCE(SUM(bytes), 0) AS bytes, MIN(start_ts) AS first_seen\n"
        "    FROM peers\n"
        "    GROUP BY GROUPING SETS ((direction, ip, action), (host, ip, aws_service))\n"
        "), ranked AS (\n"
        "    SELECT grouped_rows.*,\n"
        "           ROW_NUMBER() OVER (PARTITION BY per_host ORDER BY bytes DESC, flows DESC,\n"
        "               ip, direction, action, host, aws_service) AS position,\n"
        f"           COUNT(*) OVER (PARTITION BY per_host) AS total_groups, {totals}\n"
        "    FROM grouped_rows\n"
        ")\n"
        "SELECT per_host, direction, ip, action, host, aws_service, flows, packets, bytes,\n"
        "       first_seen, total_groups, total_flows, total_packets, total_bytes\n"
        "FROM ranked\n"
        f"WHERE position <= {int(limit)}\n"
        "ORDER BY per_host, position"
    )


@dataclass
class PeerGroups:
    """The rows of one grouping of peer_groups_sql, with its group count and totals."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    total_groups: int = 0
    totals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MEASURES, 0))

    @property
    def truncated(self) -> bool:
        return self.total_groups > len(self.rows)


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
        by_address, by_host, values = self._fetch(fetch, params, columns)
        overrides = geo.Overrides(params.cidr_tables)
        database, database_note = _as_database(params)
        shipped = geo.lookup_many(values, database, values=values)
        places = {ip: overrides.apply(ip, place) for ip, place in shipped.items()}
        hosts = self._hosts(by_host, params, places)
        rank = params.rank_by
        by_country: dict[tuple[Any, ...], dict[str, Any]] = {}
        by_as: dict[tuple[Any, ...], dict[str, Any]] = {}
        addresses: list[dict[str, Any]] = []
        for row in by_address.rows:
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
            **by_address.totals,
            "groups": len(countries),
            "rank_by": rank,
            "countries": len({row["country"] for row in countries if row["country"]}),
            "autonomous_systems": len({(r["asn"], r["as_org"]) for r in systems if r["as_org"]}),
            "addresses": len({row["ip"] for row in addresses}),
            "geo_source": source.to_dict(),
            "geo_tables": overrides.names,
            **scope_summary(params),
        }
        if database is not None:
            summary["as_source"] = database.source.to_dict()
        if database_note:
            summary["as_source_note"] = database_note
        if by_address.truncated:
            summary["geo_note"] = (
                f"Only the {len(by_address.rows):,} largest of {by_address.total_groups:,} "
                "address groups (by bytes) were placed; the country and AS tables leave the "
                "rest out, the totals count them."
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
                    total_groups=by_address.total_groups,
                    truncated=by_address.truncated,
                ),
                hosts,
            ],
        )

    def _fetch(
        self, fetch: FetchRows, params: AnalysisParams, columns: Collection[str]
    ) -> tuple[PeerGroups, PeerGroups, dict[str, int]]:
        """Both groupings of peer_groups_sql as plain rows, and each distinct address's text
        and integer (converted once, however many rows it is in)."""
        groups = (PeerGroups(), PeerGroups())
        values: dict[str, int] = {}
        texts: dict[Any, str | None] = {}

        def text(raw: Any) -> str | None:
            if raw is None:
                return None
            found = texts.get(raw, "")
            if found == "":
                value = address_value(raw)
                found = texts[raw] = int_to_ip(value)
                values[found] = value
            return found

        for record in fetch(peer_groups_sql(params, columns, MAX_ADDRESS_GROUPS)):
            per_host, way, raw_ip, action, host, service, flows, packets, size, seen = record[:10]
            into = groups[1 if per_host else 0]
            if not into.rows:
                into.total_groups = int(record[10] or 0)
                into.totals = {m: int(v or 0) for m, v in zip(MEASURES, record[11:14], strict=True)}
            measures = {"flows": int(flows), "packets": int(packets or 0), "bytes": int(size or 0)}
            if per_host:
                into.rows.append(
                    {
                        "host": text(host),
                        "ip": text(raw_ip),
                        "aws_service": service,
                        **measures,
                        "first_seen": iso_time(seen),
                    }
                )
            else:
                into.rows.append(
                    {"direction": way, "ip": text(raw_ip), "action": action, **measures}
                )
        return groups[0], groups[1], values

    def _hosts(
        self,
        grouped: PeerGroups,
        params: AnalysisParams,
        places: dict[str, geo.GeoInfo | None],
    ) -> ResultTable:
        """Per internal host, the countries and AS organisations of its external peers (what a
        watch's new-country and rare-AS signals compare run by run). A peer that is an AWS
        service (the logs' pkt-*-aws-service, or the run's AWS ip-ranges tables) says which."""
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


def _as_database(params: AnalysisParams) -> tuple[geo.AsDatabase | None, str]:
    """The run's uploaded AS database (loaded once per process), or None and why not."""
    if not params.as_database:
        return None, ""
    try:
        return geo.AsDatabase.open(params.as_database), ""
    except geo.GeoDataMissing as error:
        return None, f"The uploaded AS database was not used: {error}."
