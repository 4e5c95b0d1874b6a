"""Reading findings by their sightings: which findings a run saw, and each one's sightings.

A finding is one row per identity in its investigation; every run that saw it has a
`FindingSighting` (see investigations.runs.sightings for the writing side). A finding made
outside a run's detections has no sighting, and counts as seen by the run that holds it.
"""

from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet

from investigations.models import Finding, FindingSighting, QueryRun

MAX_SIGHTINGS_SHOWN = 20  # per finding on a page; the API lists them all, paged


def sighted_in(findings: QuerySet[Finding], run: QueryRun | int) -> QuerySet[Finding]:
    """The findings a run raised or saw again."""
    run_id = run if isinstance(run, int) else run.pk
    again = FindingSighting.objects.filter(run_id=run_id).values("finding_id")
    return findings.filter(Q(run_id=run_id) | Q(pk__in=again))


def with_sightings(findings: QuerySet[Finding]) -> QuerySet[Finding]:
    """Each finding's sightings, latest run first, in one further query (`f.sightings.all`)."""
    return findings.prefetch_related(
        Prefetch(
            "sightings",
            queryset=FindingSighting.objects.select_related("run").order_by("-run_id", "-id"),
        )
    )


def tactic_filter(tactic: str) -> Q:
    """Findings whose ATT&CK ids name this tactic (`evidence["attack"]` holds them)."""
    return Q(evidence__attack__icontains=f'"{tactic}"')
