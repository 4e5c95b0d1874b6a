"""What a detection is (one definition: metadata, parameters, SQL, findings, test cases) and
the SQL pieces detections share: connection sides, time windows, target scoping."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from analysis.addresses import address_value, int_to_ip, is_ip, sql_in_ips
from analysis.analyzers.base import FetchRows
from analysis.analyzers.params import DEFAULT_THRESHOLDS, THRESHOLD_LABELS, AnalysisParams
from analysis.analyzers.scope import at_target, is_external, is_internal, packet_address
from analysis.findings import Finding

SIDES = ("src", "dst")
MAX_LISTED = 20  # actors or targets named in one finding's evidence (the count says how many)
MAX_VIA = 5  # logged addresses kept for one packet address in a finding's evidence (`via`)
MAX_VIA_LOOKUP = 1000  # named addresses looked up for `via` in one query

# MITRE ATT&CK tactics and techniques the detections map to, with their names.
TACTICS = {
    "TA0001": "Initial Access",
    "TA0006": "Credential Access",
    "TA0007": "Discovery",
    "TA0008": "Lateral Movement",
    "TA0010": "Exfiltration",
    "TA0011": "Command and Control",
    "TA0040": "Impact",
    "TA0043": "Reconnaissance",
}
TECHNIQUES = {
    "T1021": "Remote Services",
    "T1030": "Data Transfer Size Limits",
    "T1041": "Exfiltration Over C2 Channel",
    "T1046": "Network Service Discovery",
    "T1048": "Exfiltration Over Alternative Protocol",
    "T1071": "Application Layer Protocol",
    "T1071.004": "Application Layer Protocol: DNS",
    "T1110": "Brute Force",
    "T1110.001": "Brute Force: Password Guessing",
    "T1110.003": "Brute Force: Password Spraying",
    "T1133": "External Remote Services",
    "T1190": "Exploit Public-Facing Application",
    "T1496": "Resource Hijacking",
    "T1571": "Non-Standard Port",
    "T1595": "Active Scanning",
    "T1595.001": "Active Scanning: Scanning IP Blocks",
}


@dataclass(frozen=True)
class Case:
    """A test case kept with its detection: flow lines (default v2 format unless `header`)
    and the (finding type, peer) pairs the detection must report for them (none: silent)."""

    name: str
    lines: tuple[str, ...]
    expect: tuple[tuple[str, str], ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    header: str = ""


@dataclass(frozen=True)
class Detection:
    """One detection, as data: what it is, how bad, its parameters, its SQL and its findings.

    `sql(ctx)` gives the detection's queries over `flows` (Athena-renderable); `findings`
    turns their rows into findings, each with a flag saying whether the target (if any) is
    involved. `cases` are its records-in, findings-out tests, attacks and look-alikes.
    """

    id: str
    type: str
    title: str
    description: str
    tactics: tuple[str, ...]
    techniques: tuple[str, ...]
    severity: int
    severity_rises: str
    parameters: tuple[str, ...]
    sql: Callable[[Context], list[str]]
    findings: Callable[[Context, list[list[tuple[Any, ...]]]], list[tuple[Finding, bool]]]
    cases: tuple[Case, ...] = ()
    needs: Callable[[AnalysisParams], str | None] = lambda params: None
    # A peer that is an AWS service (ip-ranges.json in a CIDR table) is no finding of this
    # detection: a backup to S3 is not exfiltration, an agent polling its endpoint no beacon.
    spares_aws_services: bool = False

    @property
    def attack(self) -> tuple[tuple[str, str], ...]:
        """(tactic, technique) pairs: every technique under the first tactic."""
        return tuple((self.tactics[0], technique) for technique in self.techniques)

    def run(self, ctx: Context) -> list[tuple[Finding, bool]]:
        if self.needs(ctx.params) is not None:
            return []
        results = [ctx.fetch(sql) for sql in self.sql(ctx)]
        stamped = []
        for finding, touched in packet_views(ctx, self.findings(ctx, results)):
            stamped.append((finding.stamped(self.id, self.attack), touched))
        return stamped

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "title": self.title,
            "description": self.description,
            "tactics": [{"id": t, "name": TACTICS[t]} for t in self.tactics],
            "techniques": [{"id": t, "name": TECHNIQUES[t]} for t in self.techniques],
            "severity": self.severity,
            "severity_rises": self.severity_rises,
            "parameters": [
                {
                    "name": name,
                    "default": DEFAULT_THRESHOLDS[name],
                    "meaning": THRESHOLD_LABELS[name],
                }
                for name in self.parameters
            ],
        }


class Context:
    """A run's view for detections: how to fetch rows, the parameters, the flows columns.

    Detections read `flows` through `flows`/`flows_as`: where the logs carry pkt-srcaddr or
    pkt-dstaddr, its `src_ip`/`dst_ip` are the packet's addresses (the logged one where the
    packet's is missing) and `logged_src_ip`/`logged_dst_ip` the logged ones. A NAT gateway's
    or an EKS node's interface logs its own address in srcaddr/dstaddr, so internal and
    external, and the host or peer a finding names, are judged on the packet's address.
    """

    def __init__(self, fetch: FetchRows, params: AnalysisParams, columns: Collection[str]) -> None:
        self._fetch = fetch
        self._fetched: dict[str, list[tuple[Any, ...]]] = {}
        self.params = params
        self.columns = set(columns)
        self.t = params.thresholds
        self.packet_sides = tuple(side for side in SIDES if f"pkt_{side}_ip" in self.columns)
        scoped = self.columns | {f"logged_{side}_ip" for side in self.packet_sides}
        self.touches_target = (
            f"(({at_target('src', params, scoped)}) OR ({at_target('dst', params, scoped)}))"
        )
        self.flows = self.flows_as("flows") if self.packet_sides else "flows"

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        """The rows of `sql`, fetched once in a run: detections that gather the same records
        the same way (SSH and RDP brute force) send one identical query, each reading its own
        rows of it."""
        rows = self._fetched.get(sql)
        if rows is None:
            rows = self._fetched[sql] = self._fetch(sql)
        return rows

    def flows_as(self, alias: str, where: str = "") -> str:
        """The flows relation detections read, named `alias` (see the class); with `where`,
        only its records meeting that test of the logged columns (not src_ip or dst_ip),
        tested first: a selective test then spares most records the packet addresses'
        expressions and the tests on them (DuckDB evaluates the outer WHERE's terms in
        an order of its own)."""
        narrowed = f" WHERE {where}" if where else ""
        if not self.packet_sides:
            return f"(SELECT * FROM flows{narrowed}) AS {alias}" if where else f"flows AS {alias}"
        picks = [f'"{name}"' for name in sorted(self.columns - {"src_ip", "dst_ip"})]
        for side in SIDES:
            logged = f"{side}_ip"
            if side in self.packet_sides:
                picks += [
                    f"{logged} AS logged_{logged}",
                    f"{packet_address(side, self.columns)} AS {logged}",
                ]
            else:
                picks.append(logged)
        return f"(SELECT {', '.join(picks)} FROM flows{narrowed}) AS {alias}"

    def num(self, name: str) -> float:
        return float(self.t[name])

    def whole(self, name: str) -> int:
        return int(self.t[name])

    def internal(self, column: str) -> str:
        return is_internal(column, self.params)

    def external(self, column: str) -> str:
        return is_external(column, self.params)

    def touched(self) -> str:
        """An aggregate: 1 when some record of the group touches the target (1 without one)."""
        if not self.params.has_target:
            return "1"
        return f"MAX(CASE WHEN {self.touches_target} THEN 1 ELSE 0 END)"

    def reply(self) -> str:
        """A record of the answering side of a conversation: the server's SYN-ACK when
        tcp-flags says so, else a well-known or lower port answering an ephemeral one.
        (A SYN without ACK is always an attempt.)"""
        ports = "(srcport < dstport AND (srcport < 1024 OR dstport >= 32768))"
        if "tcp_flags" not in self.columns:
            return f"({ports})"
        syn_ack = "(protocol = 6 AND (tcp_flags & 18) = 18)"
        syn_only = "(protocol = 6 AND (tcp_flags & 18) = 2)"
        return f"({syn_ack} OR ({ports} AND NOT COALESCE({syn_only}, FALSE)))"

    def initiated(self) -> str:
        """A record of the side that opened the conversation (not a reply)."""
        return f"(NOT {self.reply()} AND srcport IS NOT NULL AND dstport IS NOT NULL)"

    def not_aws_service(self, side: str = "dst") -> str:
        column = f"pkt_{side}_aws_service"
        return f"{column} IS NULL" if column in self.columns else "TRUE"

    @staticmethod
    def bucket(seconds: float) -> str:
        """A tumbling window: the start of the `seconds`-long bucket a record falls in."""
        step = max(int(seconds), 1)
        return f"(start - start % {step})"

    @staticmethod
    def sliding(seconds: float, partition: str) -> str:
        """A sliding window: an aggregate's OVER clause taking, for each record, the records
        of its `partition` that start in the `seconds` from its own start (so the largest
        value over the records is the peak inside any window of that length, and at least
        the peak of any tumbling bucket: a burst across a bucket boundary is not split).
        A RANGE frame with a numeric offset, which DuckDB and Athena (Trino) both run."""
        step = max(int(seconds), 1)
        return (
            f"OVER (PARTITION BY {partition} ORDER BY start "
            f"RANGE BETWEEN CURRENT ROW AND {step - 1} FOLLOWING)"
        )

    @staticmethod
    def sliding_distinct(
        name: str, source: str, keys: Sequence[str], target: str, seconds: float, least: int
    ) -> str:
        """CTEs (each followed by a comma) ending in `name`: for each group of `keys` in the
        `source` records with at least `least` distinct `target`s inside some window of
        `seconds` (sliding: starts at most `seconds` - 1 apart, as `sliding` counts), the
        columns `keys`, `peak` (the most distinct targets inside any such window), `peak_at` (the
        start of the attempt that first reached the peak: the peak window is the records
        starting in `peak_at` - `seconds` + 1 .. `peak_at`) and `busy` (for how many seconds the
        trailing window held at least `least` distinct targets).

        A distinct count over a sliding frame is not in what DuckDB and Athena (Trino) both
        run, so it is counted as presence intervals: an attempt of a (group, target) more
        than `seconds` after the previous one starts an interval, which ends `seconds` after
        the last attempt of its chain; the distinct targets in the trailing window at time t
        are the intervals covering t, a running sum of +1 at each start and -1 at each end
        (net per instant, so an interval ending as another starts is not counted twice).
        Cheap first: any such window lies inside two consecutive tumbling buckets of
        `seconds`, so only the records of bucket pairs holding at least `least` distinct
        targets between them can reach it (the counts there are exact; elsewhere they stay
        below `least`), only groups with a bucket holding half of it can have such a pair,
        and those records are reduced to one row per (group, target, start) before any
        window function."""
        step = max(int(seconds), 1)
        cols = ", ".join(keys)
        on = " AND ".join(f"s.{key} = k.{key}" for key in keys)
        pair = " AND ".join(f"y.{key} = x.{key}" for key in keys)
        s_cols = ", ".join(f"s.{key}" for key in keys)
        x_cols = ", ".join(f"x.{key}" for key in keys)
        chain = f"PARTITION BY {cols}, target ORDER BY start"
        return (
            # A pair reaching `least` has a bucket with half of it (as many records at least):
            # only those groups count distinct targets per bucket and pair their buckets up.
            Context.busy_groups(f"{name}_h", source, keys, seconds, least)
            + f"{name}_u AS (SELECT DISTINCT {s_cols}, s.{target} AS target, s.start, "
            f"s.start - s.start % {step} AS b FROM {source} AS s JOIN {name}_h AS k ON {on}), "
            f"{name}_x AS (SELECT {cols}, b, COUNT(DISTINCT target) AS n FROM {name}_u "
            f"GROUP BY {cols}, b), "
            f"{name}_p AS (SELECT {x_cols}, x.b FROM {name}_x AS x LEFT JOIN {name}_x AS y "
            f"ON {pair} AND y.b = x.b + {step} WHERE x.n + COALESCE(y.n, 0) >= {least}), "
            f"{name}_k AS (SELECT DISTINCT {cols}, b FROM (SELECT {cols}, b FROM {name}_p "
            f"UNION ALL SELECT {cols}, b + {step} AS b FROM {name}_p) AS u), "
            f"{name}_d AS (SELECT {s_cols}, s.target, s.start FROM {name}_u AS s "
            f"JOIN {name}_k AS k ON {on} AND s.b = k.b), "
            f"{name}_c AS (SELECT {cols}, start, LAG(start) OVER ({chain}) AS prev, "
            f"LEAD(start) OVER ({chain}) AS next FROM {name}_d), "
            f"{name}_e AS (SELECT {cols}, start AS t, 1 AS delta FROM {name}_c "
            f"WHERE prev IS NULL OR start - prev > {step} "
            f"UNION ALL SELECT {cols}, start + {step} AS t, -1 AS delta FROM {name}_c "
            f"WHERE next IS NULL OR next - start > {step}), "
            f"{name}_r AS (SELECT {cols}, t, SUM(delta) OVER (PARTITION BY {cols} ORDER BY t "
            "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS live, "
            f"LEAD(t) OVER (PARTITION BY {cols} ORDER BY t) AS next_t FROM (SELECT {cols}, t, "
            f"SUM(delta) AS delta FROM {name}_e GROUP BY {cols}, t) AS n), "
            f"{name}_q AS (SELECT {cols}, t, live, ROW_NUMBER() OVER (PARTITION BY {cols} "
            f"ORDER BY live DESC, t) AS rn, SUM(CASE WHEN live >= {least} THEN next_t - t "
            f"ELSE 0 END) OVER (PARTITION BY {cols}) AS busy FROM {name}_r), "
            f"{name} AS (SELECT {cols}, live AS peak, t AS peak_at, busy FROM {name}_q "
            f"WHERE rn = 1 AND live >= {least}), "
        )

    @staticmethod
    def busy_groups(name: str, source: str, keys: Sequence[str], seconds: float, least: int) -> str:
        """A CTE (followed by a comma) `name`: the groups of `keys` among the `source` records
        (a relation with `keys` and `start`) with a tumbling bucket of `seconds` holding at
        least half of `least` records. Only they can reach `least` inside a sliding window of
        `seconds` (such a window lies inside two consecutive buckets), so a detection can
        narrow its records to them before anything costlier, as `sliding_distinct` does."""
        step = max(int(seconds), 1)
        cols = ", ".join(keys)
        return (
            f"{name} AS (SELECT DISTINCT {cols} FROM (SELECT {cols}, COUNT(*) AS n "
            f"FROM {source} GROUP BY {cols}, start - start % {step}) AS c "
            f"WHERE n >= {(least + 1) // 2}), "
        )

    @staticmethod
    def in_peak(alias: str, peak: str, seconds: float) -> str:
        """A condition: the `alias` record starts inside the peak window of `peak` (a
        `sliding_distinct` CTE's row)."""
        step = max(int(seconds), 1)
        return f"({alias}.start > {peak}.peak_at - {step} AND {alias}.start <= {peak}.peak_at)"


def _named(evidence: dict[str, Any]) -> set[str]:
    """The addresses a finding's evidence names: its peer, actors and targets."""
    named = {
        evidence.get("peer"),
        *(evidence.get("actors") or []),
        *(evidence.get("targets") or []),
    }
    return {str(address) for address in named if address}


def packet_views(ctx: Context, findings: list[tuple[Finding, bool]]) -> list[tuple[Finding, bool]]:
    """Findings named by packet addresses keep the logged view too: where a named address was
    logged as another one (pkt-srcaddr/pkt-dstaddr differing from srcaddr/dstaddr: the
    interface of a NAT gateway or of an EKS pod's node), the evidence's `via` maps it to
    those logged addresses (at most MAX_VIA, most records first) and the explanation says
    so. One query per detection with findings, and only where the logs carry the fields."""
    if not ctx.packet_sides or not findings:
        return findings
    named: set[str] = set()
    for finding, _ in findings:
        named |= _named(finding.evidence)
    addresses = sorted(address for address in named if is_ip(address))[:MAX_VIA_LOOKUP]
    if not addresses:
        return findings
    parts = [
        f"SELECT pkt_{side}_ip AS address, {side}_ip AS logged FROM flows "
        f"WHERE {sql_in_ips(f'pkt_{side}_ip', addresses)} AND {side}_ip IS NOT NULL "
        f"AND pkt_{side}_ip <> {side}_ip"
        for side in ctx.packet_sides
    ]
    rows = ctx.fetch(
        f"SELECT address, logged, COUNT(*) AS n FROM ({' UNION ALL '.join(parts)}) AS v "
        "GROUP BY address, logged ORDER BY address, n DESC, logged"
    )
    via: dict[str, list[str]] = {}
    for address, logged, _count in rows:
        listed = via.setdefault(ip(address), [])
        if len(listed) < MAX_VIA:
            listed.append(ip(logged))
    out = []
    for finding, touched in findings:
        seen = {
            address: via[address] for address in sorted(_named(finding.evidence)) if address in via
        }
        if seen:
            said = "; ".join(
                f"{address} via {', '.join(logged)}" for address, logged in seen.items()
            )
            finding = replace(
                finding,
                explanation=f"{finding.explanation} Packet addresses (pkt-srcaddr/pkt-dstaddr) "
                f"are named; logged through another interface (a NAT gateway, a pod's node): "
                f"{said}.",
                evidence={**finding.evidence, "via": seen},
            )
        out.append((finding, touched))
    return out


def ip(value: Any) -> str:
    return int_to_ip(address_value(value))


def grouped(rows: Iterable[tuple[Any, ...]]) -> dict[tuple[Any, ...], list[str]]:
    """Rows of a group's figures followed by one listed address (or NULL), as listed_sql
    gives them, by group: the figures and the listed addresses, in row order."""
    groups: dict[tuple[Any, ...], list[str]] = {}
    for row in rows:
        listed = groups.setdefault(tuple(row[:-1]), [])
        if row[-1] is not None:
            listed.append(ip(row[-1]))
    return groups


def with_ports(
    combined: Iterable[tuple[Any, ...]],
) -> tuple[list[tuple[Any, ...]], dict[str, list[int]]]:
    """A query giving its findings' rows (kind 0: the figures, then one listed address) and
    each source's ports (kind 1: the source first, the port second to last) in one result:
    the rows for `grouped`, and the ports by source address, in row order."""
    rows: list[tuple[Any, ...]] = []
    ports: dict[str, list[int]] = {}
    for kind, *figures, listed, port, _rank in combined:
        if kind:
            ports.setdefault(ip(figures[0]), []).append(int(port))
        else:
            rows.append((*figures, listed))
    return rows, ports


def listed_sql(
    base: str, groups: str, keys: Iterable[str], listed: str, order: str = "COUNT(*) DESC"
) -> str:
    """Join `groups` (a CTE with `keys`) with the top MAX_LISTED values of `listed` among
    the `base` records of each group; every group column first, the listed address last."""
    keys = list(keys)
    on = " AND ".join(f"b.{key} = g.{key}" for key in keys)
    part = ", ".join(f"g.{key}" for key in keys)
    join_on = " AND ".join(f"t.{key} = g.{key}" for key in keys)
    return (
        f"tops AS (SELECT {part}, b.{listed} AS listed, ROW_NUMBER() OVER (PARTITION BY {part} "
        f"ORDER BY {order}, b.{listed}) AS rn FROM {base} AS b JOIN {groups} AS g ON {on} "
        f"GROUP BY {part}, b.{listed}) "
        f"SELECT g.*, t.listed FROM {groups} AS g LEFT JOIN tops AS t ON {join_on} "
        f"AND t.rn <= {MAX_LISTED} ORDER BY {part}, t.rn"
    )


def peak_window(first: Any, last: Any) -> dict[str, str | None]:
    """The first and last seen of a finding's peak window, as evidence (ISO 8601, UTC)."""
    return {"first_seen": iso(when(first)), "last_seen": iso(when(last))}


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.isoformat()


def when(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) or value is None else None


def evidence(
    *,
    peer: str | None,
    targets: list[str],
    target_count: int,
    ports: list[int],
    flows: int,
    accepted: int | None,
    rejected: int | None,
    size: int | None,
    actors: list[str] | None = None,
    actor_count: int = 1,
    **extra: Any,
) -> dict[str, Any]:
    """A finding's evidence in the one shape every detection shares: `peer` (the address behind
    the activity), `actors` (at most MAX_LISTED; `actor_count` says how many; just the peer
    unless given), `targets` and `target_count` likewise for our side, `ports`, `flows`,
    `accepted`, `rejected` and `bytes` (None where the detection cannot know), then the
    figures of its own type (`extra`)."""
    return {
        "peer": peer,
        "actors": [peer] if actors is None else actors,
        "actor_count": int(actor_count),
        "targets": targets,
        "target_count": int(target_count),
        "ports": ports,
        "flows": int(flows),
        "accepted": None if accepted is None else int(accepted),
        "rejected": None if rejected is None else int(rejected),
        "bytes": None if size is None else int(size),
        **extra,
    }


class AwsServiceRanges:
    """The AWS service ranges of a run's CIDR tables (AWS's ip-ranges.json, whose entries are
    labelled provider AWS), to name the service behind an address: a lookup per prefix
    length, so a few dozen dictionary reads an address however many ranges there are."""

    def __init__(self, cidr_tables: Iterable[dict[str, Any]]) -> None:
        self._by_length: dict[tuple[int, int], dict[int, str]] = {}
        for table in cidr_tables:
            for cidr, labels in table.get("entries") or []:
                if labels.get("provider") != "AWS":
                    continue
                network = ipaddress.ip_network(cidr)
                key = (network.version, network.prefixlen)
                service = labels.get("service") or "AWS"
                self._by_length.setdefault(key, {})[int(network.network_address)] = service
        # Longest prefix first: the most specific range names the service.
        self._lengths = sorted(self._by_length, key=lambda key: -key[1])

    def __bool__(self) -> bool:
        return bool(self._by_length)

    def service_of(self, address: str | None) -> str | None:
        if not address or not self._by_length:
            return None
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return None
        value, bits = int(parsed), parsed.max_prefixlen
        for version, length in self._lengths:
            if version != parsed.version:
                continue
            masked = value >> (bits - length) << (bits - length) if length else 0
            service = self._by_length[(version, length)].get(masked)
            if service is not None:
                return service
        return None
