"""What a report says, gathered once from the investigation's rows; the Markdown and PDF
renderers only lay it out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db.models import Count
from django.utils import timezone

from investigations.chartdata import time_series_payload, top_talkers_payload
from investigations.choices import FindingStatus, severity_label
from investigations.models import Finding, Investigation, Note, QueryRun, RunResult
from investigations.ocsf import TACTICS, TECHNIQUES
from investigations.reports.charts import (
    SEVERITY_COLOURS,
    Chart,
    bar_chart,
    human_bytes,
    line_chart,
)
from investigations.timeline import MAX_ENTRIES, TimelineEntry, investigation_timeline

SEVERITIES = ("critical", "high", "medium", "low")
STATUS_LABELS: dict[str, str] = dict(FindingStatus.choices)
# Long lists stay readable: an auditor wants every file, a reader not 10,000 S3 keys inline.
MAX_LISTED_FILES = 500

Progress = Callable[[int, str], None]


def _no_progress(percent: int, stage: str) -> None:
    return None


@dataclass
class ReadItem:
    """A file, object or stream a run read, with what identifies its content."""

    name: str
    size: int | None
    lines: int | None = None
    digest: str = ""  # SHA-256 for files, the ETag for S3 objects
    digest_kind: str = "SHA-256"
    error: str = ""


@dataclass
class RunSection:
    run: QueryRun
    source: str
    window: str
    engine: str
    counts: list[tuple[str, int]]
    items: list[ReadItem]
    items_total: int
    listing_digest: str
    gaps: list[dict[str, Any]]
    malformed: int
    skipdata: int
    unreadable: int
    references: list[str]
    notes: list[str] = field(default_factory=list)


@dataclass
class FindingSection:
    finding: Finding
    evidence: list[tuple[str, str]]
    attack: list[str]
    sightings: int
    last_run_id: int


@dataclass
class TimelineLine:
    at: datetime
    actor: str
    text: str


@dataclass
class Report:
    investigation: Investigation
    generated_at: datetime
    generated_by: str
    scope: list[tuple[str, str]]
    timeline: list[TimelineLine]
    timeline_capped: bool
    runs: list[RunSection]
    findings: list[FindingSection]
    notes: list[Note]
    charts: list[Chart]
    severity_counts: list[tuple[str, int]]
    status_counts: list[tuple[str, int]]


def size_of(investigation: Investigation) -> int:
    """How much a report has to lay out: findings plus runs (the inline threshold's measure)."""
    return investigation.findings.count() + investigation.runs.count()


def build_report(
    investigation: Investigation, *, user: Any, progress: Progress = _no_progress
) -> Report:
    progress(5, "Reading runs")
    runs = list(
        investigation.runs.select_related("requested_by")
        .prefetch_related("reference_versions__table", "uploads")
        .order_by("created_at", "id")
    )
    sections = [run_section(run) for run in runs]
    progress(30, "Reading findings")
    findings = [
        finding_section(finding)
        for finding in investigation.findings.select_related("assignee", "run").order_by(
            "-severity", "-last_seen", "-id"
        )
    ]
    progress(55, "Reading the timeline")
    timeline = investigation_timeline(investigation, limit=MAX_ENTRIES)
    lines = [_timeline_line(entry) for entry in reversed(timeline.entries)]
    notes = list(investigation.notes.select_related("author").order_by("created_at", "id"))
    progress(70, "Drawing charts")
    severity_counts = _severity_counts(investigation)
    status_counts = [
        (STATUS_LABELS.get(row["status"], row["status"]), row["n"])
        for row in investigation.findings.values("status")
        .annotate(n=Count("id"))
        .order_by("status")
    ]
    charts = _charts(investigation, severity_counts, runs)
    return Report(
        investigation=investigation,
        generated_at=timezone.now(),
        generated_by=user.get_username(),
        scope=_scope(investigation, runs),
        timeline=lines,
        timeline_capped=timeline.has_more,
        runs=sections,
        findings=findings,
        notes=notes,
        charts=charts,
        severity_counts=severity_counts,
        status_counts=status_counts,
    )


def _scope(investigation: Investigation, runs: list[QueryRun]) -> list[tuple[str, str]]:
    starts = [run.window_start for run in runs if run.window_start]
    ends = [run.window_end for run in runs if run.window_end]
    seen = [
        value
        for run in runs
        for value in (
            (run.data_read or {}).get("first_seen"),
            (run.data_read or {}).get("last_seen"),
        )
        if value
    ]
    targets = sorted(
        {str(ip) for run in runs for ip in ((run.parameters or {}).get("target_ips") or [])}
    )
    members = ", ".join(sorted(m.get_username() for m in investigation.members.all())) or "none"
    scope = [
        ("Title", investigation.title),
        ("Status", investigation.get_status_display()),
        ("Owner", investigation.owner.get_username()),
        ("Members", members),
        (
            "Assignee",
            investigation.assignee.get_username() if investigation.assignee else "none",
        ),
        ("Tags", ", ".join(tag.name for tag in investigation.tags.all()) or "none"),
        ("Created", when(investigation.created_at)),
        ("Runs", str(len(runs))),
        ("Target addresses", ", ".join(targets) or "none given"),
    ]
    if starts or ends:
        scope.append(
            (
                "Windows asked for",
                f"{when(min(starts)) if starts else '?'} to {when(max(ends)) if ends else '?'}",
            )
        )
    if seen:
        scope.append(("Records seen", f"{min(seen)} to {max(seen)}"))
    if investigation.description:
        scope.append(("Description", investigation.description))
    return scope


def when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def run_section(run: QueryRun) -> RunSection:
    records = run.records or {}
    data = run.data_read or {}
    items, total, digest = _read_items(run, records, data)
    config = run.source_config or {}
    if run.source == "file":
        source = "Uploaded files"
    elif data.get("log_group") or run.source == "cloudwatch":
        source = f"CloudWatch Logs group {data.get('log_group') or config.get('log_group') or '?'}"
    else:
        source = f"S3 bucket {data.get('bucket') or config.get('bucket') or '?'}"
    if data.get("region"):
        source += f" in {data['region']}"
    if data.get("role_session"):
        source += f", read as {data['role_session']}"
    window = (
        f"{when(run.window_start)} to {when(run.window_end)}"
        if run.window_start or run.window_end
        else "the whole of the files"
    )
    engine_info = data.get("engine") or {}
    engine = "Amazon Athena" if engine_info.get("engine") == "athena" else "the portal's workers"
    counts = [
        (label, int(records.get(key) or 0))
        for key, label in (
            ("total", "lines"),
            ("ok", "analysed"),
            ("nodata", "NODATA"),
            ("skipdata", "SKIPDATA"),
            ("malformed", "malformed"),
            ("filtered_out", "outside the window"),
        )
        if key in records
    ]
    notes = []
    if run.error:
        notes.append(f"Error: {run.error.strip().splitlines()[0]}")
    athena = data.get("athena") or {}
    if athena:
        notes.append(
            f"Athena: table {athena.get('database')}.{athena.get('table')} over "
            f"{athena.get('location')}, {len(athena.get('queries') or [])} queries, "
            f"{human_bytes(float(athena.get('bytes_scanned') or 0))} scanned"
        )
        for query in athena.get("queries") or []:
            notes.append(
                f"Athena query {query.get('label')}: {query.get('query_id')} "
                f"({query.get('state')}, {human_bytes(float(query.get('bytes_scanned') or 0))})"
            )
    if engine_info.get("reason"):
        notes.append(f"Engine chosen because: {engine_info['reason']}")
    for name, reason in (records.get("skipped_analyses") or {}).items():
        notes.append(f"Analysis {name} skipped: {reason}")
    if total > len(items):
        notes.append(f"{len(items):,} of {total:,} items listed; the digest covers them all.")
    return RunSection(
        run=run,
        source=source,
        window=window,
        engine=engine,
        counts=counts,
        items=items,
        items_total=total,
        listing_digest=digest,
        gaps=[g for g in (records.get("skipdata_gaps") or []) if isinstance(g, dict)],
        malformed=int(records.get("malformed") or 0),
        skipdata=int(records.get("skipdata") or 0),
        unreadable=len(run.unreadable_files),
        references=[
            f"{v.table.name} v{v.number} (SHA-256 {v.sha256})" for v in run.reference_versions.all()
        ],
        notes=notes,
    )


def _read_items(
    run: QueryRun, records: dict[str, Any], data: dict[str, Any]
) -> tuple[list[ReadItem], int, str]:
    errors = {
        str(f.get("name")): str(f.get("error"))
        for f in records.get("files") or []
        if isinstance(f, dict) and f.get("error")
    }
    items: list[ReadItem] = []
    if data.get("files"):
        for f in data["files"]:
            name = str(f.get("name", ""))
            items.append(
                ReadItem(
                    name=name,
                    size=f.get("bytes"),
                    lines=f.get("lines"),
                    digest=str(f.get("sha256") or ""),
                    error=errors.pop(name, ""),
                )
            )
        total = len(items)
        digest = ""
    elif data.get("objects"):
        for o in data["objects"]:
            items.append(
                ReadItem(
                    name=str(o.get("key", "")),
                    size=o.get("size"),
                    digest=str(o.get("etag") or "").strip('"'),
                    digest_kind="ETag",
                )
            )
        total = int(data.get("objects_count") or len(items))
        digest = str(data.get("objects_digest") or "")
    elif data.get("streams"):
        for s in data["streams"]:
            items.append(
                ReadItem(
                    name=str(s.get("name", "")),
                    size=s.get("bytes"),
                    lines=s.get("events"),
                    digest_kind="",
                )
            )
        total = int(data.get("streams_count") or len(items))
        digest = str(data.get("streams_digest") or "")
    else:
        # A run that never loaded still names its uploads, with the hash taken at upload.
        for upload in run.uploads.all():
            items.append(
                ReadItem(name=upload.original_name, size=upload.size, digest=upload.sha256)
            )
        total = len(items)
        digest = ""
    for name, error in errors.items():
        items.append(ReadItem(name=name, size=None, error=error, digest_kind=""))
    return items[:MAX_LISTED_FILES], max(total, len(items)), digest


def finding_section(finding: Finding) -> FindingSection:
    evidence = finding.evidence if isinstance(finding.evidence, dict) else {}
    attack = []
    for item in evidence.get("attack") or []:
        if isinstance(item, dict):
            tactic, technique = str(item.get("tactic", "")), str(item.get("technique", ""))
            names = f"{TACTICS.get(tactic, '')} / {technique} {TECHNIQUES.get(technique, '')}"
            attack.append(f"{tactic} {names}".replace("  ", " ").strip())
    rows = [
        (str(key).replace("_", " ").capitalize(), plain(value))
        for key, value in evidence.items()
        if key != "attack"
    ]
    return FindingSection(
        finding=finding,
        evidence=rows,
        attack=attack,
        sightings=finding.sighting_count,
        last_run_id=finding.last_run_id or finding.run_id,
    )


def plain(value: Any) -> str:
    """Evidence as text a reader and a PDF can hold: lists joined, mappings as key=value."""
    if isinstance(value, dict):
        return "; ".join(f"{k}={plain(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(plain(v) for v in value)
    if value is None:
        return "—"
    return str(value)


def _severity_counts(investigation: Investigation) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for row in investigation.findings.values("severity").annotate(n=Count("id")).order_by():
        label = severity_label(float(row["severity"]))
        counts[label] = counts.get(label, 0) + row["n"]
    return [(label, counts.get(label, 0)) for label in SEVERITIES]


def _charts(
    investigation: Investigation, severity_counts: list[tuple[str, int]], runs: list[QueryRun]
) -> list[Chart]:
    charts = [
        Chart(
            title="Findings by severity",
            svg=bar_chart("Findings by severity", severity_counts, colours=SEVERITY_COLOURS),
            header=("Severity", "Findings"),
            rows=[(label, str(n)) for label, n in severity_counts],
        )
    ]
    # Traffic charts come from the newest succeeded run that stored the tables they draw.
    succeeded = [run for run in runs if run.status == "succeeded"]
    for run in reversed(succeeded):
        result = RunResult.objects.filter(run=run, analysis="time-series").first()
        if result is None:
            continue
        payload = time_series_payload(result)
        series = payload["series"]["bytes"]
        title = f"Bytes over time (run #{run.pk})"
        charts.append(
            Chart(
                title=title,
                svg=line_chart(title, payload["times"], series, "bytes"),
                header=("Action", "Bytes"),
                rows=[(action, human_bytes(sum(values))) for action, values in series.items()],
                notes=list(payload["notes"]),
            )
        )
        break
    for run in reversed(succeeded):
        result = RunResult.objects.filter(run=run, analysis="top-talkers").first()
        if result is None:
            continue
        payload = top_talkers_payload(result)
        bars = [(str(row.get("ip")), float(row["bytes"])) for row in payload["rows"]]
        bars.sort(key=lambda bar: -bar[1])
        title = f"Top talkers by bytes (run #{run.pk})"
        charts.append(
            Chart(
                title=title,
                svg=bar_chart(title, bars, bytes_values=True),
                header=("Address", "Bytes"),
                rows=[(ip, human_bytes(size)) for ip, size in bars],
                notes=list(payload["notes"]),
            )
        )
        break
    return charts


def _timeline_line(entry: TimelineEntry) -> TimelineLine:
    details = entry.details
    run = f"run #{entry.run_id}" if entry.run_id else "a run"
    texts = {
        "created": "Investigation created",
        "note": "Note added",
        "run_submitted": f"Submitted {run}",
        "run_succeeded": f"{run.capitalize()} succeeded"
        + (f" ({details.get('records'):,} records analysed)" if details.get("records") else ""),
        "run_failed": f"{run.capitalize()} failed: {' '.join(details.get('error') or [])}",
        "run_cancelled": f"{run.capitalize()} cancelled",
        "findings_raised": f"{run.capitalize()} raised {details.get('count')} finding(s), "
        f"highest {details.get('top_label')}",
        "status": f"Status changed from {details.get('from_label')} to {details.get('to_label')}",
        "assignee": "Assignee changed",
        "members": f"Members changed (added {', '.join(details.get('added') or []) or 'none'}, "
        f"removed {', '.join(details.get('removed') or []) or 'none'})",
        "tags": "Tags changed",
        "cancel_requested": f"Cancel asked for {run}",
        "run_requeued": f"{run.capitalize()} requeued",
    }
    if entry.kind == "finding_triaged":
        title = entry.finding.title if entry.finding is not None else "a finding"
        parts = [f"Triaged “{title}”"]
        if details.get("to_label"):
            parts.append(f"status {details.get('from_label')} → {details.get('to_label')}")
        if "assignee_to" in details:
            parts.append(f"assignee {details.get('assignee_to') or 'none'}")
        if details.get("comment"):
            parts.append(f"comment: {details['comment']}")
        text = "; ".join(parts)
    else:
        action = entry.event.action if entry.event is not None else entry.kind
        text = texts.get(entry.kind, action.replace("_", " ").replace(".", ": "))
    return TimelineLine(at=entry.at, actor=entry.actor, text=text)
