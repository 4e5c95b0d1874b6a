"""An investigation's timeline: notes, runs, findings and changes to it, newest first, in one list.

Built from the rows themselves where they say what happened (notes, runs submitted and
finished, findings raised) and from the audit log for the rest (status, sharing, assignee and
tag changes, findings triaged, cancellations). Each source is read newest first and only as far
as the page needs, so a long-lived investigation costs the same as a new one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import CharField, Count, F, Max, Min, Q
from django.db.models.functions import Cast

from investigations.choices import (
    FINISHED_RUN_STATUSES,
    FindingStatus,
    InvestigationStatus,
    severity_label,
)
from investigations.models import (
    Finding,
    FindingSighting,
    Investigation,
    Note,
    QueryRun,
    SuppressionRule,
)
from portal.models import AuditEvent

PAGE_SIZE = 50
MAX_ENTRIES = 2000

# Audit events about the investigation that rows already tell better (notes carry their text).
_TOLD_BY_ROWS = ("investigation.created", "investigation.note_added")
_RUN_EVENTS = ("run.cancel_requested", "run.requeued")
_FINDING_EVENTS = ("finding.status_changed", "finding.triaged", "finding.reopened")
_SUPPRESSION_EVENTS = ("suppression.created", "suppression.disabled")


@dataclass
class TimelineEntry:
    """One thing that happened. `kind` picks how the page shows it; the rest is what it shows."""

    at: datetime
    kind: str
    actor: str = ""
    note: Note | None = None
    run: QueryRun | None = None
    run_id: int | None = None
    finding: Finding | None = None
    event: AuditEvent | None = None
    details: dict[str, Any] = field(default_factory=dict)
    # Among entries at the same instant: the investigation first, a run's submission before
    # its end, its end before its findings.
    order: int = 0

    @property
    def sort_key(self) -> tuple[datetime, int]:
        return (self.at, self.order)


@dataclass
class Timeline:
    entries: list[TimelineEntry]
    limit: int
    has_more: bool

    @property
    def next_limit(self) -> int:
        return min(self.limit + PAGE_SIZE, MAX_ENTRIES)

    @property
    def capped(self) -> bool:
        """More happened than the page will ever show; the audit log has the rest."""
        return self.has_more and self.limit >= MAX_ENTRIES


def timeline_limit(value: Any) -> int:
    """The `?timeline=` parameter: how many entries to show, in steps of a page."""
    try:
        wanted = int(value)
    except (TypeError, ValueError):
        return PAGE_SIZE
    pages = max(1, -(-wanted // PAGE_SIZE))
    return min(pages * PAGE_SIZE, MAX_ENTRIES)


def investigation_timeline(investigation: Investigation, *, limit: int = PAGE_SIZE) -> Timeline:
    """The newest `limit` entries, and whether there are older ones."""
    take = limit + 1  # one more than shown from each source tells whether anything is left
    entries: list[TimelineEntry] = [
        TimelineEntry(
            at=investigation.created_at,
            kind="created",
            actor=investigation.owner.get_username(),
            order=0,
        )
    ]
    entries += _notes(investigation, take)
    entries += _runs(investigation, take)
    entries += _findings_raised(investigation, take)
    entries += _audited_changes(investigation, take)
    entries.sort(key=lambda entry: entry.sort_key, reverse=True)
    return Timeline(entries=entries[:limit], limit=limit, has_more=len(entries) > limit)


def _notes(investigation: Investigation, take: int) -> list[TimelineEntry]:
    notes = investigation.notes.select_related("author").order_by("-created_at", "-id")[:take]
    return [
        TimelineEntry(
            at=note.created_at, kind="note", actor=note.author.get_username(), note=note, order=1
        )
        for note in notes
    ]


def _runs(investigation: Investigation, take: int) -> list[TimelineEntry]:
    runs = investigation.runs.select_related("requested_by")
    entries = [
        TimelineEntry(
            at=run.created_at,
            kind="run_submitted",
            actor=run.requested_by.get_username(),
            run=run,
            run_id=run.pk,
            order=2,
        )
        for run in runs.order_by("-created_at", "-id")[:take]
    ]
    finished = runs.filter(status__in=FINISHED_RUN_STATUSES, finished_at__isnull=False)
    entries += [
        TimelineEntry(
            at=run.finished_at,
            kind=f"run_{run.status}",
            actor=run.requested_by.get_username(),
            run=run,
            run_id=run.pk,
            order=3,
            details={
                "error": (run.error or "").strip().splitlines()[:1],
                "records": (run.records or {}).get("ok"),
            },
        )
        for run in finished.order_by("-finished_at", "-id")[:take]
        if run.finished_at is not None
    ]
    return entries


def _findings_raised(investigation: Investigation, take: int) -> list[TimelineEntry]:
    """One entry per run: a run raises its new findings, and sights earlier ones again, all at
    once, when it finishes."""
    raised = (
        Finding.objects.filter(investigation=investigation)
        .order_by()
        .values("run_id")
        .annotate(count=Count("id"), at=Min("created_at"), top=Max("severity"))
        .order_by("-at", "-run_id")[:take]
    )
    again = (
        FindingSighting.objects.filter(finding__investigation=investigation)
        .exclude(finding__run_id=F("run_id"))
        .order_by()
        .values("run_id")
        .annotate(count=Count("id"), at=Min("created_at"), top=Max("severity"))
        .order_by("-at", "-run_id")[:take]
    )
    runs: dict[int, dict[str, Any]] = {}
    for group in raised:
        runs[group["run_id"]] = {**group, "again": 0}
    for group in again:
        entry = runs.setdefault(group["run_id"], {**group, "count": 0})
        entry["again"] = group["count"]
        entry["at"] = min(entry["at"], group["at"])
        entry["top"] = max(entry["top"], group["top"])
    return [
        TimelineEntry(
            at=group["at"],
            kind="findings_raised",
            run_id=run_id,
            order=4,
            details={
                "count": group["count"],
                "again": group["again"],
                "top": group["top"],
                "top_label": severity_label(float(group["top"])),
            },
        )
        for run_id, group in runs.items()
    ]


def _audited_changes(investigation: Investigation, take: int) -> list[TimelineEntry]:
    as_text = CharField(max_length=64)
    run_ids = (
        QueryRun.objects.filter(investigation=investigation)
        .annotate(key=Cast("pk", as_text))
        .values("key")
    )
    finding_ids = (
        Finding.objects.filter(investigation=investigation)
        .annotate(key=Cast("pk", as_text))
        .values("key")
    )
    rule_ids = (
        SuppressionRule.objects.filter(investigation=investigation)
        .annotate(key=Cast("pk", as_text))
        .values("key")
    )
    events = list(
        AuditEvent.objects.filter(
            (
                Q(target_type="investigations.investigation", target_id=str(investigation.pk))
                & ~Q(action__in=_TOLD_BY_ROWS)
            )
            | Q(
                target_type="investigations.queryrun", target_id__in=run_ids, action__in=_RUN_EVENTS
            )
            | Q(
                target_type="investigations.finding",
                target_id__in=finding_ids,
                action__in=_FINDING_EVENTS,
            )
            | Q(
                target_type="investigations.suppressionrule",
                target_id__in=rule_ids,
                action__in=_SUPPRESSION_EVENTS,
            )
        ).order_by("-created_at", "-id")[:take]
    )
    findings = Finding.objects.in_bulk(
        [int(e.target_id) for e in events if e.target_type == "investigations.finding"]
    )
    entries = []
    for event in events:
        details = dict(event.details) if isinstance(event.details, dict) else {}
        labels = _LABELS.get(event.action)
        if labels is not None:
            for key in ("from", "to"):
                value = details.get(key)
                details[f"{key}_label"] = labels.get(value, value) if value is not None else None
        if event.action == "investigation.members_changed" and "added" not in details:
            before, after = set(details.get("from") or []), set(details.get("to") or [])
            details["added"], details["removed"] = sorted(after - before), sorted(before - after)
        entry = TimelineEntry(
            at=event.created_at,
            kind=_kind_of(event.action),
            actor=event.actor_name or "system",
            event=event,
            order=5,
            details=details,
        )
        if event.target_type == "investigations.queryrun":
            entry.run_id = int(event.target_id)
        elif event.target_type == "investigations.suppressionrule":
            entry.details["rule_id"] = int(event.target_id)
        elif event.target_type == "investigations.finding":
            entry.finding = findings.get(int(event.target_id))
            entry.run_id = entry.finding.run_id if entry.finding is not None else None
        entries.append(entry)
    return entries


_KINDS = {
    "investigation.status_changed": "status",
    "investigation.members_changed": "members",
    "investigation.assignee_changed": "assignee",
    "investigation.tags_changed": "tags",
    "run.cancel_requested": "cancel_requested",
    "run.requeued": "run_requeued",
    "finding.status_changed": "finding_triaged",
    "finding.triaged": "finding_triaged",
    "finding.reopened": "finding_reopened",
    "suppression.created": "suppression_created",
    "suppression.disabled": "suppression_disabled",
    "watch.alert": "watch_alert",
}


_LABELS: dict[str, dict[Any, str]] = {
    "investigation.status_changed": dict(InvestigationStatus.choices),
    "finding.status_changed": dict(FindingStatus.choices),
    "finding.triaged": dict(FindingStatus.choices),
    "finding.reopened": dict(FindingStatus.choices),
}


def _kind_of(action: str) -> str:
    return _KINDS.get(action, "other")
