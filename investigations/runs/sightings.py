"""A run's findings stored by identity: a new identity is a new finding, a known one a sighting.

Called by the run lifecycle inside the transaction that stores the run's results. Within one
investigation a finding is one row per identity (detection, actor, target); every run that
sees it adds one `FindingSighting` with what that run saw (times, severity, evidence).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from analysis.findings import finding_identity
from investigations.choices import FindingStatus
from investigations.models import Finding, FindingSighting, QueryRun
from portal import audit

IDENTITY_MAX = Finding._meta.get_field("identity").max_length or 400


@dataclass
class Sighted:
    """One finding this run saw: whether it is new and, if not, how its severity moved."""

    finding: Finding
    created: bool
    previous_severity: Decimal | None = None
    reopened: bool = False

    @property
    def severity_rose(self) -> bool:
        return self.previous_severity is not None and self.finding.severity > self.previous_severity


@dataclass
class _Seen:
    identity: str
    type: str
    severity: Decimal
    title: str
    explanation: str
    evidence: dict[str, Any]
    first_seen: datetime | None
    last_seen: datetime | None

    def absorb(self, other: _Seen) -> None:
        """Two findings of one run with one identity: one sighting spanning both."""
        self.first_seen = _earliest(self.first_seen, other.first_seen)
        self.last_seen = _latest(self.last_seen, other.last_seen)
        if other.severity > self.severity:
            self.severity, self.title, self.explanation = (
                other.severity,
                other.title,
                other.explanation,
            )
            self.evidence = other.evidence


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


def _parse(item: dict[str, Any]) -> _Seen:
    severity = max(1.0, min(10.0, float(item.get("severity") or 1)))
    kind = str(item.get("type", "Unknown"))[:100]
    evidence = item.get("evidence") or {}
    if not isinstance(evidence, dict):
        evidence = {"value": evidence}
    identity = item.get("identity") or finding_identity(
        str(item.get("detection_id") or evidence.get("detection_id") or kind), evidence
    )
    return _Seen(
        identity=str(identity)[:IDENTITY_MAX],
        type=kind,
        severity=Decimal(str(round(severity, 1))),
        title=str(item.get("title") or item.get("type", ""))[:300],
        explanation=str(item.get("explanation") or ""),
        evidence=evidence,
        first_seen=parse_datetime(item["first_seen"]) if item.get("first_seen") else None,
        last_seen=parse_datetime(item["last_seen"]) if item.get("last_seen") else None,
    )


def store_findings(run: QueryRun, items: Iterable[dict[str, Any]]) -> list[Sighted]:
    """Upsert the run's findings by (investigation, identity) and record this run's sightings.

    A resolved finding seen again is open again (audited as `finding.reopened`); acknowledged
    and false-positive findings keep their triage. Severity only rises; title, explanation and
    evidence become this run's. The caller sets the change numbers once the run's is known.
    """
    seen: dict[str, _Seen] = {}
    for item in items:
        parsed = _parse(item)
        if parsed.identity in seen:
            seen[parsed.identity].absorb(parsed)
        else:
            seen[parsed.identity] = parsed
    if not seen:
        return []
    known = {
        finding.identity: finding
        for finding in Finding.objects.select_for_update().filter(
            investigation_id=run.investigation_id, identity__in=list(seen)
        )
    }
    now = timezone.now()
    fresh = [
        Finding(
            investigation_id=run.investigation_id,
            run=run,
            last_run=run,
            identity=s.identity,
            type=s.type,
            severity=s.severity,
            title=s.title,
            explanation=s.explanation,
            evidence=s.evidence,
            first_seen=s.first_seen,
            last_seen=s.last_seen,
            sighting_count=1,
        )
        for s in seen.values()
        if s.identity not in known
    ]
    Finding.objects.bulk_create(fresh, batch_size=500)
    out = [Sighted(finding=f, created=True) for f in fresh]
    sightings = [
        FindingSighting(
            finding=f,
            run=run,
            first_seen=f.first_seen,
            last_seen=f.last_seen,
            severity=f.severity,
            title=f.title,
            evidence=f.evidence,
        )
        for f in fresh
    ]
    updated: list[Finding] = []
    for identity, finding in known.items():
        s = seen[identity]
        previous = finding.severity
        sightings.append(
            FindingSighting(
                finding=finding,
                run=run,
                first_seen=s.first_seen,
                last_seen=s.last_seen,
                severity=s.severity,
                previous_severity=previous,
                title=s.title,
                evidence=s.evidence,
            )
        )
        finding.first_seen = _earliest(finding.first_seen, s.first_seen)
        finding.last_seen = _latest(finding.last_seen, s.last_seen)
        finding.type, finding.title, finding.explanation = s.type, s.title, s.explanation
        finding.evidence = s.evidence
        finding.severity = max(previous, s.severity)
        finding.last_run = run
        finding.sighting_count += 1
        finding.updated_at = now
        reopened = finding.status == FindingStatus.RESOLVED
        if reopened:
            finding.status = FindingStatus.OPEN
            audit.record(
                actor=None,
                action="finding.reopened",
                target=finding,
                details={"from": FindingStatus.RESOLVED, "to": FindingStatus.OPEN, "run": run.pk},
            )
        updated.append(finding)
        out.append(
            Sighted(finding=finding, created=False, previous_severity=previous, reopened=reopened)
        )
    Finding.objects.bulk_update(
        updated,
        [
            "first_seen",
            "last_seen",
            "type",
            "title",
            "explanation",
            "evidence",
            "severity",
            "last_run",
            "sighting_count",
            "status",
            "updated_at",
        ],
        batch_size=500,
    )
    FindingSighting.objects.bulk_create(sightings, batch_size=500)
    return out
