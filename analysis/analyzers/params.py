"""AnalysisParams: the validated inputs shared by every analyzer."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from analysis.addresses import parse_cidr, parse_ip

RANK_BY_CHOICES = ("flows", "bytes")
# Rows one analysis may rank: the same limit in the CLI, the run form and the API.
MAX_TOP_N = 10_000
DEFAULT_TOP_N = 100
MAX_GRAPH_EDGES = 5_000
MIN_TIME_BIN_SECONDS = 1

# Ports whose exposure an analyst wants to see, with the service usually behind them.
DEFAULT_SENSITIVE_PORTS: dict[int, str] = {
    21: "ftp",
    22: "ssh",
    23: "telnet",
    25: "smtp",
    135: "msrpc",
    139: "netbios-ssn",
    445: "smb",
    1433: "mssql",
    1521: "oracle",
    3306: "mysql",
    3389: "rdp",
    5432: "postgresql",
    5900: "vnc",
    5984: "couchdb",
    6379: "redis",
    9200: "elasticsearch",
    11211: "memcached",
    27017: "mongodb",
}

# Detection thresholds (see analysis.analyzers.detections for what each one means).
DEFAULT_THRESHOLDS: dict[str, float] = {
    "bruteforce_min_attempts": 20,  # short flows from one source to SSH or RDP
    "bruteforce_min_per_target": 5,  # ... and on average this many per address it tried
    "bruteforce_max_packets": 50,  # a flow with more packets is a session, not an attempt
    "portscan_min_ports": 25,  # distinct destination ports from one source
    "probe_max_packets": 10,  # an accepted flow this small to a sensitive port is a probe
    "exfil_min_bytes": 100_000_000,  # bytes to one external peer before it can be unusual
    "exfil_min_ratio": 50,  # ... and at least this many times the median peer
    "exfil_min_zscore": 10,  # ... and this robust z-score (median / MAD)
    "exfil_min_peers": 5,  # fewer external peers than this: no baseline, no finding
    "exfil_recurring_days": 3,  # a host reaching a peer on this many days: recurring
    "exfil_recurring_max_ratio": 10,  # ... unless its busiest day is this many times the rest
    "fanout_min_hosts": 20,  # distinct internal hosts one internal source tries on admin ports
    "bruteforce_window_seconds": 600,
    "campaign_min_sources": 10,
    "campaign_min_attempts_per_source": 3,
    "campaign_window_seconds": 3600,
    "portscan_window_seconds": 600,
    "fanout_window_seconds": 3600,
    "sweep_min_hosts": 30,
    "sweep_window_seconds": 600,
    "sweep_max_ports": 3,
    "sweep_max_windows": 3,
    "lateral_min_new_hosts": 2,
    "exposed_high_bytes": 10_000_000,
    "noise_max_attempts": 1000,
    "noise_min_sources": 50,
    "beacon_min_connections": 24,
    "beacon_min_interval_seconds": 10,
    "beacon_max_interval_cv": 0.3,
    "beacon_max_size_cv": 0.3,
    "longconn_min_hours": 4,
    "mining_min_minutes": 10,
    "dns_min_queries": 500,
    "reject_spike_min": 100,
    "reject_spike_ratio": 10,
    "reject_window_seconds": 600,
}

# What each threshold means, in words for forms and documentation.
THRESHOLD_LABELS: dict[str, str] = {
    "bruteforce_min_attempts": "Brute force: minimum short SSH/RDP flows from one source in "
    "one window",
    "bruteforce_min_per_target": "Brute force: minimum attempts per address tried, on average",
    "bruteforce_max_packets": "Brute force: most packets in a flow that still counts as an attempt",
    "portscan_min_ports": "Port scan: minimum distinct destination ports from one source in "
    "one window",
    "probe_max_packets": "Port probe: most packets in an accepted flow to a sensitive port",
    "exfil_min_bytes": "Unusual outbound volume: minimum bytes to one external peer",
    "exfil_min_ratio": "Unusual outbound volume: minimum multiple of the median peer's bytes",
    "exfil_min_zscore": "Unusual outbound volume: minimum robust z-score (median / MAD)",
    "exfil_min_peers": "Unusual outbound volume: fewest external peers for a baseline",
    "exfil_recurring_days": "Unusual outbound volume: distinct days (UTC) a host reached a "
    "peer in the window for the pair to be recurring, not flagged (at least 2)",
    "exfil_recurring_max_ratio": "Unusual outbound volume: a recurring pair's busiest day "
    "above this multiple of its other days' average is unusual again",
    "fanout_min_hosts": "Internal fan-out: minimum internal hosts one source tries on admin "
    "ports in one window",
    "bruteforce_window_seconds": "Brute force: the sliding window attempts are counted in (s)",
    "campaign_min_sources": "Brute-force campaign: fewest sources attacking one host in a window",
    "campaign_min_attempts_per_source": "Brute-force campaign: fewest attempts per source",
    "campaign_window_seconds": "Brute-force campaign: the time window (s)",
    "portscan_window_seconds": "Port scan: the sliding window distinct ports are counted in (s)",
    "fanout_window_seconds": "Internal fan-out: the sliding window hosts are counted in (s)",
    "sweep_min_hosts": "Internal sweep: minimum internal hosts tried on one port in a window",
    "sweep_window_seconds": "Internal sweep: the sliding window hosts are counted in (s)",
    "sweep_max_ports": "Internal sweep: most ports in the window (more is a port scan)",
    "sweep_max_windows": "Internal sweep: most windows' worth of time sweeping a port before "
    "it counts as routine",
    "lateral_min_new_hosts": "Lateral movement: fewest new internal hosts after a compromise",
    "exposed_high_bytes": "Internet database access: bytes sent to the port that make it high",
    "noise_max_attempts": "Background noise: most attempts of a source counted as noise",
    "noise_min_sources": "Background noise: fewest sources for the summary finding",
    "beacon_min_connections": "Beaconing: fewest connections to one address and port",
    "beacon_min_interval_seconds": "Beaconing: shortest mean interval between connections (s)",
    "beacon_max_interval_cv": "Beaconing: most interval deviation, as a share of the mean",
    "beacon_max_size_cv": "Beaconing: most size deviation, as a share of the mean",
    "longconn_min_hours": "Long connection: fewest hours one connection stays open",
    "mining_min_minutes": "Crypto-mining: fewest minutes of traffic to stratum ports",
    "dns_min_queries": "DNS to outside resolvers: fewest queries from one host",
    "reject_spike_min": "Rejected spike: fewest rejected flows in the peak window",
    "reject_spike_ratio": "Rejected spike: peak window over the host's own baseline",
    "reject_window_seconds": "Rejected spike: the time window (s)",
}

# Admin ports for lateral movement: SSH, MS-RPC, NetBIOS, SMB, RDP, WinRM.
DEFAULT_ADMIN_PORTS: tuple[int, ...] = (22, 135, 139, 445, 3389, 5985, 5986)

_INTERFACE_RE = re.compile(r"eni-[0-9a-zA-Z]{1,40}")
_ORIGINAL_FIELDS = ("target_ips", "target_cidrs", "vpc_cidrs", "port", "top_n", "rank_by")


def _as_list(value: Any, name: str) -> list[str]:
    """Accept a list of strings, or one string of items separated by commas/whitespace."""
    if value is None:
        return []
    if isinstance(value, str):
        return [item for item in value.replace(",", " ").split() if item]
    if isinstance(value, list | tuple):
        items = []
        for item in value:
            if not isinstance(item, str):
                raise ValueError(f"{name} must hold strings, got {item!r}")
            if item.strip():
                items.append(item.strip())
        return items
    raise ValueError(f"{name} must be a list of strings, got {type(value).__name__}")


def _as_int(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


def _as_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if value is None or value == "":
        return False
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false, got {value!r}")


def _port(value: Any, name: str) -> int:
    port = _as_int(value, name)
    if port is None or not 0 <= port <= 65535:
        raise ValueError(f"{name}: port must be between 0 and 65535, got {value!r}")
    return port


def parse_sensitive_ports(value: Any) -> dict[int, str]:
    """Ports and service names from a dict, a list of ports or `port:service` items, or text.

    `"22:ssh, 3389:rdp, 8080"` gives {22: "ssh", 3389: "rdp", 8080: ""}; a port without a
    name takes the default list's name when it has one.
    """
    if value is None:
        return dict(DEFAULT_SENSITIVE_PORTS)
    items: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, str | list | tuple):
        raw = value.replace(",", " ").split() if isinstance(value, str) else list(value)
        for item in raw:
            if isinstance(item, str) and ":" in item:
                port_text, _, service = item.partition(":")
                items.append((port_text, service))
            elif isinstance(item, list | tuple) and len(item) == 2:
                items.append((item[0], item[1]))
            else:
                items.append((item, None))
    else:
        raise ValueError(f"sensitive_ports must be a list or mapping, got {type(value).__name__}")
    ports: dict[int, str] = {}
    for port_value, service in items:
        port = _port(port_value, "sensitive_ports")
        name = str(service).strip() if service not in (None, "") else ""
        ports[port] = name or DEFAULT_SENSITIVE_PORTS.get(port, "")
    if not ports:
        raise ValueError("sensitive_ports must name at least one port")
    return dict(sorted(ports.items()))


def parse_thresholds(value: Any) -> dict[str, float]:
    """The default thresholds with the given ones replaced; unknown names are an error."""
    thresholds = dict(DEFAULT_THRESHOLDS)
    if value is None:
        return thresholds
    if not isinstance(value, dict):
        raise ValueError(f"thresholds must be a mapping, got {type(value).__name__}")
    unknown = sorted(set(value) - set(DEFAULT_THRESHOLDS))
    if unknown:
        raise ValueError(
            f"unknown threshold(s): {', '.join(unknown)}; known: {', '.join(DEFAULT_THRESHOLDS)}"
        )
    for name, raw in value.items():
        if isinstance(raw, bool):
            raise ValueError(f"threshold {name} must be a number, got {raw!r}")
        try:
            number = float(raw)
        except (TypeError, ValueError):
            raise ValueError(f"threshold {name} must be a number, got {raw!r}") from None
        if not number >= 0:  # also refuses NaN
            raise ValueError(f"threshold {name} must be zero or more, got {raw!r}")
        thresholds[name] = number
    return thresholds


def _lookup_rows(value: Any) -> list[tuple[int, int, str]]:
    """(dstport, protocol number, tag) triples, as analysis.reference.LookupEntry gives them."""
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise ValueError("lookup_table must be a list of (port, protocol, tag)")
    rows = []
    tags: dict[tuple[int, int], str] = {}
    for item in value:
        if not isinstance(item, list | tuple) or len(item) != 3:
            raise ValueError(f"lookup_table rows are (port, protocol, tag), got {item!r}")
        port = _port(item[0], "lookup_table")
        protocol = _as_int(item[1], "lookup_table protocol")
        if protocol is None or not 0 <= protocol <= 255:
            raise ValueError(f"lookup_table protocol must be 0-255, got {item[1]!r}")
        tag = str(item[2]).strip()
        if not tag:
            raise ValueError(f"lookup_table row {item!r} has an empty tag")
        if tags.setdefault((port, protocol), tag) != tag:
            raise ValueError(f"lookup_table: port {port} protocol {protocol} is tagged twice")
        if (port, protocol, tag) not in rows:
            rows.append((port, protocol, tag))
    return rows


def _cidr_tables(value: Any) -> list[dict[str, Any]]:
    """[{"name": str, "entries": [[cidr, {label: value}]]}] with every CIDR checked."""
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise ValueError("cidr_tables must be a list of {name, entries}")
    tables = []
    for table in value:
        if not isinstance(table, dict) or not isinstance(table.get("name"), str):
            raise ValueError("each cidr table needs a name and entries")
        entries = []
        for entry in table.get("entries") or []:
            if not isinstance(entry, list | tuple) or len(entry) != 2:
                raise ValueError(f"cidr table entries are (cidr, labels), got {entry!r}")
            labels = entry[1] or {}
            if not isinstance(labels, dict):
                raise ValueError(f"cidr table labels must be a mapping, got {labels!r}")
            entries.append(
                (str(parse_cidr(str(entry[0]))), {str(k): str(v) for k, v in labels.items()})
            )
        tables.append({"name": table["name"], "entries": entries})
    return tables


def _known_hosts(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError("known_hosts must map IP addresses to aliases")
    return {str(parse_ip(str(ip))): str(alias) for ip, alias in value.items()}


def _indicators(value: Any) -> list[tuple[str, str, float | None, str]]:
    """[(cidr, label, confidence or None, source)] with every CIDR checked (see
    analysis.reference.parse_indicators)."""
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise ValueError("indicators must be a list of (cidr, label, confidence, source)")
    rows = []
    for item in value:
        if not isinstance(item, list | tuple) or not 2 <= len(item) <= 4:
            raise ValueError(f"indicators rows are (cidr, label, confidence, source), got {item!r}")
        cidr = str(parse_cidr(str(item[0])))
        confidence = item[2] if len(item) > 2 else None
        if confidence is not None and not isinstance(confidence, int | float):
            raise ValueError(f"indicator confidence must be a number, got {confidence!r}")
        source = str(item[3]) if len(item) > 3 and item[3] is not None else ""
        rows.append((cidr, str(item[1]), None if confidence is None else float(confidence),
                     source))  # fmt: skip
    return rows


# (host, peer) pairs from earlier runs one run carries inline, in Athena queries too.
MAX_RECURRING_PAIRS = 1000


def _pairs(value: Any) -> list[tuple[str, str]]:
    """[(host, peer)] addresses, each checked, in order without repeats (at most
    MAX_RECURRING_PAIRS: the first ones, which the portal gives most recent first)."""
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise ValueError("recurring_pairs must be a list of (host, peer) addresses")
    pairs: dict[tuple[str, str], None] = {}
    for item in value:
        if not isinstance(item, list | tuple) or len(item) != 2:
            raise ValueError(f"recurring_pairs rows are (host, peer), got {item!r}")
        pairs[(str(parse_ip(str(item[0]))), str(parse_ip(str(item[1]))))] = None
    return list(pairs)[:MAX_RECURRING_PAIRS]


def _suppressions(value: Any) -> list[dict[str, str]]:
    """[{"detection": id or "*", "actor": cidr or "", "target": cidr or "", "reason": text}]:
    findings a rule matches are listed apart, not dropped (see detections)."""
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise ValueError("suppressions must be a list of {detection, actor, target, reason}")
    rules = []
    for item in value:
        if not isinstance(item, dict) or not str(item.get("reason") or "").strip():
            raise ValueError(f"a suppression rule needs a reason, got {item!r}")
        actor, target = str(item.get("actor") or ""), str(item.get("target") or "")
        if not actor and not target:
            raise ValueError(f"a suppression rule needs an actor or a target, got {item!r}")
        rules.append({
            "detection": str(item.get("detection") or "*"),
            "actor": str(parse_cidr(actor)) if actor else "",
            "target": str(parse_cidr(target)) if target else "",
            "reason": str(item["reason"]).strip()[:200],
        })  # fmt: skip
    return rules


@dataclass
class AnalysisParams:
    """Targets, internal ranges, a port, top-N ranking, and the inputs of the wider analyses.

    Reference data (lookup table, CIDR tables, known hosts) arrives as plain values, as
    analysis.reference parses it; analyzers load it into DuckDB temp tables.
    """

    target_ips: list[str] = field(default_factory=list)
    target_cidrs: list[str] = field(default_factory=list)
    vpc_cidrs: list[str] = field(default_factory=list)
    port: int | None = None
    top_n: int = DEFAULT_TOP_N
    rank_by: str = "flows"
    target_interfaces: list[str] = field(default_factory=list)
    extra_internal_cidrs: list[str] = field(default_factory=list)
    sensitive_ports: dict[int, str] = field(default_factory=lambda: dict(DEFAULT_SENSITIVE_PORTS))
    thresholds: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    time_bin_seconds: int | None = None
    # (host, peer) pairs seen in earlier runs of the same investigation: recurring
    # destinations for unusual outbound volume. The portal sets them from those runs.
    recurring_pairs: list[tuple[str, str]] = field(default_factory=list)
    graph_min_flows: int = 1
    graph_top_k: int = 200
    graph_pseudonyms: bool = False
    lookup_table: list[tuple[int, int, str]] = field(default_factory=list)
    cidr_tables: list[dict[str, Any]] = field(default_factory=list)
    known_hosts: dict[str, str] = field(default_factory=dict)
    indicators: list[tuple[str, str, float | None, str]] = field(default_factory=list)
    suppressions: list[dict[str, str]] = field(default_factory=list)
    # An uploaded AS database's ranges file (analysis.geo.write_as_database), or "": the geo
    # analysis places addresses with it first. The portal sets it; a user never types it.
    as_database: str = ""

    def __post_init__(self) -> None:
        self.target_ips = [str(parse_ip(ip)) for ip in self.target_ips]
        self.target_cidrs = [str(parse_cidr(cidr)) for cidr in self.target_cidrs]
        self.vpc_cidrs = [str(parse_cidr(cidr)) for cidr in self.vpc_cidrs]
        self.extra_internal_cidrs = [str(parse_cidr(cidr)) for cidr in self.extra_internal_cidrs]
        for interface in self.target_interfaces:
            if not _INTERFACE_RE.fullmatch(interface):
                raise ValueError(f"not a network interface id (eni-…): {interface!r}")
        if self.port is not None and not 0 <= self.port <= 65535:
            raise ValueError(f"port must be between 0 and 65535, got {self.port}")
        if not 1 <= self.top_n <= MAX_TOP_N:
            raise ValueError(f"top_n must be between 1 and {MAX_TOP_N}, got {self.top_n}")
        if self.rank_by not in RANK_BY_CHOICES:
            raise ValueError(
                f"rank_by must be one of {', '.join(RANK_BY_CHOICES)}, got {self.rank_by!r}"
            )
        self.sensitive_ports = parse_sensitive_ports(self.sensitive_ports)
        self.thresholds = parse_thresholds(self.thresholds)
        self.recurring_pairs = _pairs(self.recurring_pairs)
        if self.time_bin_seconds is not None and self.time_bin_seconds < MIN_TIME_BIN_SECONDS:
            raise ValueError(f"time_bin_seconds must be at least 1, got {self.time_bin_seconds}")
        if self.graph_min_flows < 1:
            raise ValueError(f"graph_min_flows must be at least 1, got {self.graph_min_flows}")
        if not 1 <= self.graph_top_k <= MAX_GRAPH_EDGES:
            raise ValueError(
                f"graph_top_k must be between 1 and {MAX_GRAPH_EDGES}, got {self.graph_top_k}"
            )
        self.lookup_table = _lookup_rows(self.lookup_table)
        self.cidr_tables = _cidr_tables(self.cidr_tables)
        self.known_hosts = _known_hosts(self.known_hosts)
        self.indicators = _indicators(self.indicators)
        self.suppressions = _suppressions(self.suppressions)

    @property
    def has_target(self) -> bool:
        return bool(self.target_ips or self.target_cidrs or self.target_interfaces)

    @property
    def internal_cidrs(self) -> list[str]:
        """The ranges that count as internal: the VPCs' and the extra ones."""
        return list(dict.fromkeys(self.vpc_cidrs + self.extra_internal_cidrs))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnalysisParams:
        """Build from plain values (form or JSON); unknown keys are an error."""
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown analysis parameter(s): {', '.join(unknown)}")
        top_n = _as_int(data.get("top_n"), "top_n")
        graph_min_flows = _as_int(data.get("graph_min_flows"), "graph_min_flows")
        graph_top_k = _as_int(data.get("graph_top_k"), "graph_top_k")
        return cls(
            target_ips=_as_list(data.get("target_ips"), "target_ips"),
            target_cidrs=_as_list(data.get("target_cidrs"), "target_cidrs"),
            vpc_cidrs=_as_list(data.get("vpc_cidrs"), "vpc_cidrs"),
            port=_as_int(data.get("port"), "port"),
            top_n=100 if top_n is None else top_n,
            rank_by=str(data.get("rank_by") or "flows"),
            target_interfaces=_as_list(data.get("target_interfaces"), "target_interfaces"),
            extra_internal_cidrs=_as_list(data.get("extra_internal_cidrs"), "extra_internal_cidrs"),
            sensitive_ports=parse_sensitive_ports(data.get("sensitive_ports")),
            thresholds=parse_thresholds(data.get("thresholds")),
            time_bin_seconds=_as_int(data.get("time_bin_seconds"), "time_bin_seconds"),
            recurring_pairs=_pairs(data.get("recurring_pairs")),
            graph_min_flows=1 if graph_min_flows is None else graph_min_flows,
            graph_top_k=200 if graph_top_k is None else graph_top_k,
            graph_pseudonyms=_as_bool(data.get("graph_pseudonyms"), "graph_pseudonyms"),
            lookup_table=_lookup_rows(data.get("lookup_table")),
            cidr_tables=_cidr_tables(data.get("cidr_tables")),
            known_hosts=_known_hosts(data.get("known_hosts")),
            indicators=_indicators(data.get("indicators")),
            suppressions=_suppressions(data.get("suppressions")),
            as_database=str(data.get("as_database") or ""),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values that `from_dict` reads back to an equal object.

        The original six parameters are always present; the later ones only when they differ
        from their defaults, so stored runs stay small and older records keep their shape.
        """
        data = asdict(self)
        data["sensitive_ports"] = {str(port): name for port, name in self.sensitive_ports.items()}
        data["lookup_table"] = [list(row) for row in self.lookup_table]
        data["indicators"] = [list(row) for row in self.indicators]
        data["recurring_pairs"] = [list(row) for row in self.recurring_pairs]
        data["cidr_tables"] = [
            {
                "name": table["name"],
                "entries": [[cidr, dict(labels)] for cidr, labels in table["entries"]],
            }
            for table in self.cidr_tables
        ]
        defaults = AnalysisParams()
        for item in fields(self):
            if item.name in _ORIGINAL_FIELDS:
                continue
            if getattr(self, item.name) == getattr(defaults, item.name):
                del data[item.name]
        return data
