"""Comparing two runs: per analysis both have, the rows one added, removed and changed."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q

from analysis.analyzers.result import MEASURE_COLUMNS, key_columns
from investigations.choices import RunStatus
from investigations.ids import parse_id
from investigations.models import QueryRun, RunResult

# Rows read per result and run: a result holds at most RESULT_ROW_LIMIT rows, and comparing
# the largest ones in full would make a slow page. Beyond this the comparison says it is partial.
COMPARE_ROW_LIMIT = 5_000
# Rows of each kind (added, removed, changed) listed per analysis; the counts cover them all.
SHOW_LIMIT = 200
API_SHOW_LIMIT = 1_000
# Runs offered from other investigations, most recent first.
OTHER_CANDIDATES = 50


@dataclass(frozen=True)
class MeasureChange:
    column: str
    before: Any
    after: Any

    @property
    def changed(self) -> bool:
        return bool(self.before != self.after)

    @property
    def delta(self) -> float | int | None:
        if _is_number(self.before) and _is_number(self.after):
            return self.after - self.before  # type: ignore[no-any-return]
        return None

    @property
    def delta_text(self) -> str:
        """The difference with its sign, `+1,204` or `-3.5`; empty when there is none."""
        delta = self.delta
        if not delta:
            return ""
        if isinstance(delta, int) or float(delta).is_integer():
            return f"{int(delta):+,}"
        return f"{delta:+,.2f}".rstrip("0").rstrip(".")


@dataclass
class ChangedRow:
    """A group in both runs whose measures differ: its key, and each measure old and new."""

    key: dict[str, Any]
    before: dict[str, Any]
    after: dict[str, Any]

    @property
    def measures(self) -> list[MeasureChange]:
        return [
            MeasureChange(name, self.before.get(name), self.after.get(name)) for name in self.after
        ]

    def magnitude(self) -> float:
        """How big the change is, for listing the largest first: the first changed measure's
        absolute difference."""
        for change in self.measures:
            if change.changed:
                delta = change.delta
                return abs(float(delta)) if delta is not None else 0.0
        return 0.0


@dataclass
class AnalysisComparison:
    """One analysis in both runs. Rows are matched on their key columns (the group); measures
    (flows, packets, bytes…) are what may change. Lists are cut at `show_limit`; counts are not."""

    analysis: str
    title: str
    key_columns: list[str]
    measure_columns: list[str]
    comparable: bool = True
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    changed: list[ChangedRow] = field(default_factory=list)
    added_count: int = 0
    removed_count: int = 0
    changed_count: int = 0
    unchanged_count: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        """Columns of the added and removed lists: the key, then the measures."""
        return [*self.key_columns, *self.measure_columns]

    @property
    def has_differences(self) -> bool:
        return bool(self.added_count or self.removed_count or self.changed_count)


@dataclass
class RunComparison:
    before: QueryRun
    after: QueryRun
    analyses: list[AnalysisComparison]
    only_before: list[tuple[str, str]]  # (analysis, title) the later run does not have
    only_after: list[tuple[str, str]]
    notes: list[str] = field(default_factory=list)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _frozen(value: Any) -> Any:
    """A hashable stand-in for a JSON value (lists and objects appear in a few key columns)."""
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True)
    return value


def _keyed(
    rows: Iterable[dict[str, Any]], keys: Sequence[str]
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Rows by their key; a key seen again (it should not be) is told apart by its occurrence,
    so no row is silently dropped."""
    keyed: dict[tuple[Any, ...], dict[str, Any]] = {}
    seen: dict[tuple[Any, ...], int] = {}
    for row in rows:
        key = tuple(_frozen(row.get(name)) for name in keys)
        occurrence = seen.get(key, 0)
        seen[key] = occurrence + 1
        keyed[(*key, occurrence)] = row
    return keyed


def compare_rows(
    *,
    analysis: str,
    title: str,
    before_columns: Sequence[str],
    before_rows: Iterable[dict[str, Any]],
    after_columns: Sequence[str],
    after_rows: Iterable[dict[str, Any]],
    show_limit: int = SHOW_LIMIT,
) -> AnalysisComparison:
    """Added (only after), removed (only before) and changed (same key, other measures) rows.

    Rows come in rank order; added and removed keep their run's order, changed rows come
    largest change first.
    """
    before_keys = key_columns(list(before_columns))
    after_keys = key_columns(list(after_columns))
    measures = [
        name for name in after_columns if name in MEASURE_COLUMNS and name in before_columns
    ]
    comparison = AnalysisComparison(
        analysis=analysis, title=title, key_columns=after_keys, measure_columns=measures
    )
    if before_keys != after_keys:
        comparison.comparable = False
        comparison.notes.append(
            "The runs grouped this analysis by different columns "
            f"({', '.join(before_keys) or 'none'} before, {', '.join(after_keys) or 'none'} "
            "after), so its rows cannot be matched."
        )
        return comparison
    before = _keyed(before_rows, after_keys)
    after = _keyed(after_rows, after_keys)
    added = [row for key, row in after.items() if key not in before]
    removed = [row for key, row in before.items() if key not in after]
    changed: list[ChangedRow] = []
    unchanged = 0
    for key, new in after.items():
        old = before.get(key)
        if old is None:
            continue
        if any(old.get(name) != new.get(name) for name in measures):
            changed.append(
                ChangedRow(
                    key={name: new.get(name) for name in after_keys},
                    before={name: old.get(name) for name in measures},
                    after={name: new.get(name) for name in measures},
                )
            )
        else:
            unchanged += 1
    changed.sort(key=lambda row: row.magnitude(), reverse=True)  # stable: rank order on ties
    comparison.added_count, comparison.removed_count = len(added), len(removed)
    comparison.changed_count, comparison.unchanged_count = len(changed), unchanged
    comparison.added = [_project(row, comparison.columns) for row in added[:show_limit]]
    comparison.removed = [_project(row, comparison.columns) for row in removed[:show_limit]]
    comparison.changed = changed[:show_limit]
    cut = [
        f"{count:,} {kind}"
        for kind, count in (
            ("added", len(added)),
            ("removed", len(removed)),
            ("changed", len(changed)),
        )
        if count > show_limit
    ]
    if cut:
        comparison.notes.append(
            f"Listing the first {show_limit:,} rows of each kind; there are {', '.join(cut)}."
        )
    return comparison


def _project(row: dict[str, Any], columns: Sequence[str]) -> dict[str, Any]:
    return {name: row.get(name) for name in columns}


def parse_run_id(value: str | None) -> int | None:
    """A run id as given in `?with=`, or None when it is not one (never an exception)."""
    return parse_id(value)


def order_runs(one: QueryRun, other: QueryRun) -> tuple[QueryRun, QueryRun]:
    """(earlier, later): a comparison always reads from the older run to the newer one."""
    return (
        (one, other) if (one.created_at, one.pk) <= (other.created_at, other.pk) else (other, one)
    )


def _rows(result: RunResult, limit: int) -> list[dict[str, Any]]:
    return list(result.rows.order_by("position").values_list("data", flat=True)[:limit])


def compare_runs(
    before: QueryRun,
    after: QueryRun,
    *,
    row_limit: int = COMPARE_ROW_LIMIT,
    show_limit: int = SHOW_LIMIT,
) -> RunComparison:
    """Compare every analysis the two runs share. The caller has checked the user may read both
    runs (investigations.access)."""
    old = {r.analysis: r for r in RunResult.objects.filter(run=before).order_by("position")}
    new = {r.analysis: r for r in RunResult.objects.filter(run=after).order_by("position")}
    comparison = RunComparison(
        before=before,
        after=after,
        analyses=[],
        only_before=[(name, r.title) for name, r in old.items() if name not in new],
        only_after=[(name, r.title) for name, r in new.items() if name not in old],
    )
    for run in (before, after):
        if run.status != RunStatus.SUCCEEDED:
            comparison.notes.append(
                f"Run #{run.pk} is {run.get_status_display().lower()}: it has no complete "
                "results to compare."
            )
    if before.parameters != after.parameters:
        comparison.notes.append(
            "The runs used different parameters (targets, ranges, ports, top N or thresholds): "
            "some differences come from the question asked, not from the traffic."
        )
    if (before.window_start, before.window_end) != (after.window_start, after.window_end):
        comparison.notes.append("The runs covered different time windows.")
    for name, later in new.items():
        earlier = old.get(name)
        if earlier is None:
            continue
        result = compare_rows(
            analysis=name,
            title=later.title,
            before_columns=earlier.columns,
            before_rows=_rows(earlier, row_limit),
            after_columns=later.columns,
            after_rows=_rows(later, row_limit),
            show_limit=show_limit,
        )
        for run, stored in ((before, earlier), (after, later)):
            if stored.row_count > row_limit:
                result.notes.append(
                    f"Only the top {row_limit:,} of run #{run.pk}'s {stored.row_count:,} stored "
                    "rows were compared: rows further down may show as added or removed."
                )
            if stored.truncated:
                result.notes.append(
                    f"Run #{run.pk} kept the top {stored.row_count:,} of {stored.total_groups:,} "
                    "groups: a row missing from the other run may have fallen below its cut "
                    "rather than gone away."
                )
        comparison.analyses.append(result)
    return comparison


def default_counterpart(run: QueryRun, user: Any) -> QueryRun | None:
    """The run to compare `run` with unless the user picks one: the previous finished run of
    the same investigation, or else the next one."""
    siblings = (
        QueryRun.objects.for_user(user)
        .filter(investigation_id=run.investigation_id, status=RunStatus.SUCCEEDED)
        .exclude(pk=run.pk)
    )
    earlier = Q(created_at__lt=run.created_at) | Q(created_at=run.created_at, pk__lt=run.pk)
    previous = siblings.filter(earlier).order_by("-created_at", "-pk").first()
    if previous is not None:
        return previous
    return siblings.exclude(earlier).order_by("created_at", "pk").first()


def candidates(run: QueryRun, user: Any) -> tuple[list[QueryRun], list[QueryRun]]:
    """Finished runs the user may compare `run` with: those of the same investigation, and the
    most recent ones of other investigations the user can read."""
    readable = (
        QueryRun.objects.for_user(user)
        .filter(status=RunStatus.SUCCEEDED)
        .exclude(pk=run.pk)
        .select_related("investigation", "requested_by")
    )
    same = list(
        readable.filter(investigation_id=run.investigation_id).order_by("-created_at", "-pk")[:200]
    )
    others = list(
        readable.exclude(investigation_id=run.investigation_id).order_by("-created_at", "-pk")[
            :OTHER_CANDIDATES
        ]
    )
    return same, others
