"""Everything the portal knows about one address, across the runs and investigations a user may
see: labels, findings that name it, runs whose stored results mention it, and its traffic read
from a run's flow-cache entry while that entry still exists (read-only)."""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, TextField
from django.db.models.functions import Cast

from analysis import geo
from analysis.cache import FlowCache
from analysis.enrich import special_label
from analysis.entity import address_activity
from investigations.choices import ReferenceKind, RunStatus
from investigations.models import (
    Finding,
    QueryRun,
    ReferenceTable,
    ResultRow,
    RunResult,
    WhoisRecord,
)
from investigations.reference import open_as_database

logger = logging.getLogger(__name__)

MAX_RUNS_READ_FROM_CACHE = 5
MAX_MENTIONS = 200
MAX_FINDINGS = 200
MENTIONS_WITH_ROWS = 10
ROWS_PER_MENTION = 10


class BadAddress(ValueError):
    """The text is not an IPv4 or IPv6 address."""


def parse_address(text: str) -> str:
    """The canonical form of an address, or BadAddress saying why not."""
    raw = (text or "").strip()
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        shown = raw if len(raw) <= 60 else raw[:60] + "…"
        raise BadAddress(
            f"“{shown}” is not an IP address: give one IPv4 (203.0.113.50) or IPv6 "
            "(2001:db8::1) address, without a prefix length or port."
        ) from None


@dataclass
class Label:
    source: str
    text: str
    run_id: int | None = None


@dataclass
class Mention:
    run_id: int
    investigation_id: int
    investigation: str
    analysis: str
    title: str
    rows: int
    columns: list[str] = field(default_factory=list)
    sample: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class CachedActivity:
    run: QueryRun
    activity: dict[str, Any]


@dataclass
class EntityReport:
    address: str
    labels: list[Label] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    findings_total: int = 0
    mentions: list[Mention] = field(default_factory=list)
    mentions_truncated: bool = False
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    cached: list[CachedActivity] = field(default_factory=list)
    # Runs that mention the address but whose flow-cache entry is gone (stored results only).
    uncached_runs: list[int] = field(default_factory=list)
    # Where the country and AS labels come from (name and date of the offline data), if any.
    geo_source: str = ""

    @property
    def run_ids(self) -> list[int]:
        return sorted({mention.run_id for mention in self.mentions}, reverse=True)


def quoted(address: str) -> str:
    """How the address appears inside stored JSON (rows, evidence): as a whole string value."""
    return f'"{address}"'


def rows_mentioning(rows: Any, address: str) -> Any:
    """ResultRow rows with the address as one of their values (not 10.0.1.1 for 10.0.1.10)."""
    return rows.annotate(_text=Cast("data", TextField())).filter(_text__contains=quoted(address))


def findings_naming(findings: Any, address: str) -> Any:
    return findings.annotate(_text=Cast("evidence", TextField())).filter(
        _text__contains=quoted(address)
    )


def _flow_cache() -> FlowCache:
    return FlowCache(
        str(settings.FLOW_CACHE_DIR),
        max_bytes=settings.FLOW_CACHE_MAX_BYTES,
        max_age_seconds=settings.FLOW_CACHE_MAX_AGE_SECONDS,
    )


def entity_report(user: Any, text: str) -> EntityReport:
    """What `user` may know about the address `text` (BadAddress if it is not one)."""
    address = parse_address(text)
    report = EntityReport(address=address)
    runs = QueryRun.objects.for_user(user)
    _labels(report, runs)
    findings = (
        findings_naming(Finding.objects.for_user(user), address)
        .select_related("investigation", "assignee")
        .order_by("-severity", "-last_seen", "-id")
    )
    report.findings_total = findings.count()
    report.findings = list(findings[:MAX_FINDINGS])
    groups = (
        rows_mentioning(ResultRow.objects.filter(result__run__in=runs), address)
        .values(
            "result__run_id",
            "result__run__investigation_id",
            "result__run__investigation__title",
            "result__analysis",
            "result__title",
        )
        .annotate(rows=Count("id"))
        .order_by("-result__run_id", "result__analysis")
    )
    groups = list(groups[: MAX_MENTIONS + 1])
    report.mentions_truncated = len(groups) > MAX_MENTIONS
    report.mentions = [
        Mention(
            run_id=g["result__run_id"],
            investigation_id=g["result__run__investigation_id"],
            investigation=g["result__run__investigation__title"],
            analysis=g["result__analysis"],
            title=g["result__title"],
            rows=g["rows"],
        )
        for g in groups[:MAX_MENTIONS]
    ]
    _samples(report)
    _from_cache(report, runs)
    seen = [f.first_seen for f in report.findings if f.first_seen]
    seen += [
        c.activity[d]["first_seen"]
        for c in report.cached
        for d in ("in", "out")
        if c.activity[d]["first_seen"]
    ]
    last = [f.last_seen for f in report.findings if f.last_seen]
    last += [
        c.activity[d]["last_seen"]
        for c in report.cached
        for d in ("in", "out")
        if c.activity[d]["last_seen"]
    ]
    for mention in report.mentions:
        for row in mention.sample:
            seen += [moment for moment in (_moment(row.get("first_seen")),) if moment]
            last += [moment for moment in (_moment(row.get("last_seen")),) if moment]
    report.first_seen = min(seen, key=_comparable) if seen else None
    report.last_seen = max(last, key=_comparable) if last else None
    return report


def _moment(value: Any) -> datetime | None:
    """A stored row's first_seen/last_seen (ISO text) as an aware datetime."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _samples(report: EntityReport) -> None:
    """The first rows naming the address in the latest analyses that mention it: its peers,
    ports and counts as the stored tables have them."""
    for mention in report.mentions[:MENTIONS_WITH_ROWS]:
        result = RunResult.objects.filter(run_id=mention.run_id, analysis=mention.analysis).first()
        if result is None:
            continue
        mention.columns = list(result.columns or [])
        mention.sample = list(
            rows_mentioning(result.rows.all(), report.address)
            .order_by("position")
            .values_list("data", flat=True)[:ROWS_PER_MENTION]
        )


def _comparable(value: datetime) -> float:
    return value.timestamp()


def _labels(report: EntityReport, runs: Any) -> None:
    address = report.address
    ip = ipaddress.ip_address(address)
    special = special_label(address)
    if special:
        report.labels.append(Label("special range", special))
    for pk, parameters in (
        runs.exclude(parameters={}).order_by("-pk").values_list("pk", "parameters")[:500]
    ):
        for cidr in (parameters or {}).get("vpc_cidrs") or []:
            try:
                if ip in ipaddress.ip_network(cidr, strict=False):
                    report.labels.append(Label("internal range", f"inside {cidr}", pk))
                    break
            except ValueError:
                continue
    seen: set[tuple[str, str]] = set()
    annotated = (
        RunResult.objects.filter(run__in=runs, annotations__has_key=address)
        .order_by("-run_id")
        .values_list("run_id", "annotations")[:50]
    )
    for run_id, notes in annotated:
        info = (notes or {}).get(address) or {}
        for source, key in (("known host", "alias"), ("WHOIS organisation", "org")):
            value = info.get(key)
            if value and (source, value) not in seen:
                seen.add((source, value))
                report.labels.append(Label(source, str(value), run_id))
    for table in ReferenceTable.objects.filter(
        kind__in=[ReferenceKind.KNOWN_HOSTS, ReferenceKind.CIDR]
    ).order_by("name"):
        latest = table.latest
        if latest is None:
            continue
        if table.kind == ReferenceKind.KNOWN_HOSTS:
            data = latest.data
            items = data.items() if isinstance(data, dict) else data
            for host, alias in items:
                if _same(host, address) and ("known host", alias) not in seen:
                    seen.add(("known host", alias))
                    report.labels.append(Label("known host", f"{alias} ({table.name})"))
        else:
            for cidr, labels in latest.data:
                try:
                    inside = ip in ipaddress.ip_network(cidr, strict=False)
                except ValueError:
                    continue
                if inside:
                    text = ", ".join(f"{key}={value}" for key, value in labels.items())
                    source = (
                        "AWS service"
                        if labels.get("provider") == "AWS"
                        else f"CIDR table {table.name}"
                    )
                    report.labels.append(Label(source, f"{text} ({cidr})"))
    record = WhoisRecord.objects.filter(ip=address).first()
    if record is not None and isinstance(record.info, dict):
        org = record.info.get("org") or record.info.get("label")
        if org and ("WHOIS organisation", org) not in seen:
            network = record.info.get("cidr") or record.info.get("network") or ""
            report.labels.append(
                Label("WHOIS organisation", f"{org}{f' ({network})' if network else ''}")
            )
    _place(report, special)


def _place(report: EntityReport, special: str | None) -> None:
    """Country and AS of a public address from the shipped offline data (analysis.geo)."""
    if special or not settings.GEO_ENABLED:
        return
    database = open_as_database()
    place = geo.lookup_many([report.address], database)[report.address]
    if place is None:
        return
    if place.country_code:
        report.labels.append(Label("country", f"{place.country_name} ({place.country_code})"))
    if place.as_org:
        number = f"AS{place.asn} " if place.asn else ""
        report.labels.append(Label("autonomous system", f"{number}{place.as_org}"))
    report.geo_source = geo.source().describe()
    if database is not None and place.asn is not None:
        report.geo_source = f"{database.source.describe()} and {report.geo_source}"


def _same(text: Any, address: str) -> bool:
    try:
        return str(ipaddress.ip_address(str(text).strip())) == address
    except ValueError:
        return False


def _from_cache(report: EntityReport, runs: Any) -> None:
    """Traffic from the flow-cache entries of the latest runs that mention the address; runs
    whose entry is gone are listed as read from stored results only."""
    mentioned = report.run_ids
    finding_runs = {f.run_id for f in report.findings} | {
        f.last_run_id for f in report.findings if f.last_run_id is not None
    }
    candidates = (
        runs.filter(Q(pk__in=mentioned) | Q(pk__in=finding_runs))
        .filter(status=RunStatus.SUCCEEDED)
        .select_related("investigation")
        .order_by("-pk")
    )
    cache = _flow_cache()
    keys_read: set[str] = set()
    for run in candidates:
        key = ((run.data_read or {}).get("cache") or {}).get("key")
        if not key or len(report.cached) >= MAX_RUNS_READ_FROM_CACHE:
            report.uncached_runs.append(run.pk)
            continue
        if key in keys_read:
            # Another run over the same data: the same traffic, already shown.
            continue
        try:
            entry = cache.get(key)
        except ValueError:
            entry = None
        if entry is None:
            report.uncached_runs.append(run.pk)
            continue
        try:
            engine = entry.open_engine(memory_limit="256MB", threads=1)
            try:
                activity = address_activity(engine, report.address)
            finally:
                engine.close()
        except Exception:
            # An entry evicted or damaged under us is a miss, not an error page.
            logger.info("flow-cache entry %s of run %s could not be read", key, run.pk)
            report.uncached_runs.append(run.pk)
            continue
        report.cached.append(CachedActivity(run, activity))
        keys_read.add(key)
