"""The managers' summary across investigations: findings by type, severity and status raised in
a period, and how long they waited for their first triage — only what the user may see."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django import forms
from django.db.models import CharField, Min
from django.db.models.functions import Cast
from django.utils import timezone

from investigations.choices import FindingStatus, severity_label
from investigations.models import Finding, Investigation
from portal.models import AuditEvent

DEFAULT_DAYS = 30
MAX_DAYS = 366
SEVERITIES = ("critical", "high", "medium", "low")
STATUSES = tuple(FindingStatus.values)
TRIAGE_ACTIONS = ("finding.triaged", "finding.status_changed")
CSV_HEADER = (
    "type",
    "findings",
    *SEVERITIES,
    *STATUSES,
    "triaged",
    "median_hours_to_triage",
    "mean_hours_to_triage",
)


class SummaryPeriodForm(forms.Form):
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    format = forms.ChoiceField(
        choices=[("", "page"), ("csv", "CSV")], required=False, widget=forms.HiddenInput
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        today = timezone.now().date()
        until = data.get("until") or today
        since = data.get("since") or until - timedelta(days=DEFAULT_DAYS - 1)
        if since > until:
            raise forms.ValidationError("The period starts after it ends.")
        if (until - since).days >= MAX_DAYS:
            raise forms.ValidationError(f"Ask for at most {MAX_DAYS} days at once.")
        if until >= date.max:  # its end (the next midnight) is past the last datetime
            raise forms.ValidationError("The period must end before 9999-12-31.")
        data["since"], data["until"] = since, until
        return data


@dataclass
class TypeRow:
    type: str
    findings: int = 0
    severities: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SEVERITIES, 0))
    statuses: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    triage_hours: list[float] = field(default_factory=list)

    @property
    def median_hours(self) -> float | None:
        return round(statistics.median(self.triage_hours), 2) if self.triage_hours else None

    @property
    def mean_hours(self) -> float | None:
        return round(statistics.fmean(self.triage_hours), 2) if self.triage_hours else None

    def severity_cells(self) -> list[int]:
        return [self.severities[s] for s in SEVERITIES]

    def status_cells(self) -> list[int]:
        return [self.statuses[s] for s in STATUSES]

    def csv_row(self) -> list[Any]:
        return [
            self.type,
            self.findings,
            *self.severity_cells(),
            *self.status_cells(),
            len(self.triage_hours),
            self.median_hours if self.median_hours is not None else "",
            self.mean_hours if self.mean_hours is not None else "",
        ]


@dataclass
class Summary:
    since: date
    until: date
    investigations: int
    total: TypeRow
    by_type: list[TypeRow]


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def findings_summary(user: Any, *, since: date, until: date) -> Summary:
    visible = Investigation.objects.for_user(user)
    findings = Finding.objects.filter(
        investigation__in=visible,
        created_at__gte=_day_start(since),
        created_at__lt=_day_start(until + timedelta(days=1)),
    )
    first_triage = dict(
        AuditEvent.objects.filter(
            target_type="investigations.finding",
            action__in=TRIAGE_ACTIONS,
            target_id__in=findings.annotate(key=Cast("pk", CharField(max_length=64))).values("key"),
        )
        .order_by()
        .values("target_id")
        .annotate(first=Min("created_at"))
        .values_list("target_id", "first")
    )
    total = TypeRow(type="All types")
    rows: dict[str, TypeRow] = {}
    investigations = set()
    for pk, kind, severity, status, created, investigation_id in findings.values_list(
        "pk", "type", "severity", "status", "created_at", "investigation_id"
    ).iterator():
        investigations.add(investigation_id)
        row = rows.setdefault(kind, TypeRow(type=kind))
        label = severity_label(float(severity))
        triaged = first_triage.get(str(pk))
        for target in (row, total):
            target.findings += 1
            target.severities[label] += 1
            target.statuses[status] = target.statuses.get(status, 0) + 1
            if triaged is not None:
                target.triage_hours.append(max(0.0, (triaged - created).total_seconds() / 3600))
    ordered = sorted(rows.values(), key=lambda r: (-r.findings, r.type))
    return Summary(
        since=since, until=until, investigations=len(investigations), total=total, by_type=ordered
    )
