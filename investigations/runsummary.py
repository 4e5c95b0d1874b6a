"""The run page's summary: what was read, what it found, where to look next — derived from the
saved run (stats, findings, stored results) so any run, old or new, gets one."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count
from django.urls import reverse

from analysis.addresses import is_ip
from investigations.choices import RunStatus, severity_label
from investigations.models import Finding, QueryRun, RunResult
from investigations.sightings import sighted_in

TOP_FINDINGS = 3
TOP_PEERS = 5
ROWS_SCANNED = 200


def run_outcome(run: QueryRun) -> str | None:
    """How a finished run ended, as alerting wants it: `analysed`, `no_data` (succeeded
    without analysing a record), `failed` or `cancelled`; None while it is active."""
    if run.status == RunStatus.SUCCEEDED:
        return "no_data" if no_data_reason(run) else "analysed"
    if run.status in (RunStatus.FAILED, RunStatus.CANCELLED):
        return str(run.status)
    return None


def no_data_reason(run: QueryRun) -> str | None:
    """Why a finished run analysed no record, or None when it analysed some (or has not
    finished). Read from the saved load statistics."""
    if run.status != RunStatus.SUCCEEDED:
        return None
    records = run.records or {}
    if "ok" not in records or int(records.get("ok") or 0) > 0:
        return None
    total = int(records.get("total") or 0)
    malformed = int(records.get("malformed") or 0)
    outside = int(records.get("filtered_out") or 0)
    idle = int(records.get("nodata") or 0) + int(records.get("skipdata") or 0)
    files = records.get("files") or []
    unreadable = [f for f in files if isinstance(f, dict) and f.get("error")]
    if files and len(unreadable) == len(files):
        return "No file could be read."
    if outside and not malformed:
        return f"The time window missed all the data: all {outside:,} flow records lie outside it."
    if malformed and malformed + idle + outside >= total:
        extra = f", {outside:,} outside the window" if outside else ""
        return (
            f"Every line was malformed: {malformed:,} of {total:,} lines are not flow "
            f"records in a known format{extra}."
        )
    if idle and idle >= total:
        return f"Only NODATA or SKIPDATA lines ({idle:,}): the interfaces logged no traffic."
    if total == 0:
        return "The data held no lines at all."
    return f"None of the {total:,} lines was an analysable flow record."


@dataclass
class Peer:
    address: str
    bytes: int
    label: str = ""


@dataclass
class NextStep:
    text: str
    url: str
    address: str = ""


@dataclass
class RunSummary:
    no_data: str | None
    records_ok: int | None
    records_total: int | None
    gaps: int
    unreadable: int
    severities: list[tuple[str, int]] = field(default_factory=list)
    top_findings: list[Finding] = field(default_factory=list)
    findings_total: int = 0
    top_peers: list[Peer] = field(default_factory=list)
    next_steps: list[NextStep] = field(default_factory=list)


def top_external_peers(run: QueryRun, limit: int = TOP_PEERS) -> list[Peer]:
    """External addresses by bytes, from the stored tables: every address cell whose
    enrichment says `external`, with the largest byte count a row gives it (rows of one
    analysis are not added across analyses, which count the same flows)."""
    best: dict[str, int] = {}
    labels: dict[str, str] = {}
    results = RunResult.objects.filter(run=run).exclude(analysis="detections")
    for result in results:
        columns = result.columns or []
        if "bytes" not in columns:
            continue
        notes = result.annotations or {}
        for data in result.rows.order_by("position").values_list("data", flat=True)[:ROWS_SCANNED]:
            size = data.get("bytes")
            if not isinstance(size, int | float):
                continue
            for column in columns:
                value = data.get(column)
                info = notes.get(value) if is_ip(value) else None
                if isinstance(info, dict) and info.get("kind") == "external":
                    best[value] = max(best.get(value, 0), int(size))
                    labels[value] = str(info.get("org") or info.get("label") or "")
    ranked = sorted(best.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [Peer(address, size, labels.get(address, "")) for address, size in ranked]


def _finding_addresses(finding: Finding) -> tuple[str | None, str | None]:
    """(actor, first target) of a finding, from its evidence."""
    evidence = finding.evidence if isinstance(finding.evidence, dict) else {}
    peer = evidence.get("peer")
    targets = evidence.get("targets") or []
    target = targets[0] if isinstance(targets, list) and targets else None
    return (peer if is_ip(peer) else None, target if is_ip(target) else None)


def run_summary(run: QueryRun, *, can_write: bool) -> RunSummary:
    records = run.records or {}
    summary = RunSummary(
        no_data=no_data_reason(run),
        records_ok=records.get("ok"),
        records_total=records.get("total"),
        gaps=len(records.get("skipdata_gaps") or []),
        unreadable=len(run.unreadable_files),
    )
    # Every finding the run saw, also those an earlier run raised first.
    findings = sighted_in(Finding.objects.all(), run).order_by("-severity", "-last_seen", "-id")
    counts: dict[str, int] = {}
    for row in findings.values("severity").annotate(n=Count("id")).order_by():
        label = severity_label(float(row["severity"]))
        counts[label] = counts.get(label, 0) + row["n"]
    summary.severities = [
        (label, counts[label])
        for label in ("critical", "high", "medium", "low")
        if counts.get(label)
    ]
    summary.findings_total = sum(counts.values())
    summary.top_findings = list(findings[:TOP_FINDINGS])
    if run.status == RunStatus.SUCCEEDED:
        summary.top_peers = top_external_peers(run)
    summary.next_steps = _next_steps(run, summary, can_write=can_write)
    return summary


def _next_steps(run: QueryRun, summary: RunSummary, *, can_write: bool) -> list[NextStep]:
    steps: list[NextStep] = []
    actor = target = None
    for finding in summary.top_findings:
        actor, target = _finding_addresses(finding)
        if actor or target:
            break
    pivot = actor or (summary.top_peers[0].address if summary.top_peers else None)
    if pivot:
        steps.append(NextStep(f"Pivot on {pivot}", reverse("entity_detail", args=[pivot]), pivot))
        steps.append(
            NextStep(
                f"Show every row that mentions {pivot}",
                f"{run.get_absolute_url()}?ip={pivot}#results",
                pivot,
            )
        )
    current = set((run.parameters or {}).get("target_ips") or [])
    if can_write and target and target not in current:
        url = reverse("investigations:run_create", args=[run.investigation_id])
        steps.append(
            NextStep(
                f"Re-run with {target} as the target",
                f"{url}?from={run.pk}&target={target}",
                target,
            )
        )
    return steps
