"""The only writer of how a run ends, or goes back to the queue: succeed, fail, cancel, requeue.

Each function does, in one transaction, the conditional state change (QueryRun refuses an
illegal move and loses a race cleanly), the audit event, the `run.finished` webhook for
everyone who may see the run, and the release of the run's AWS account slot. Each returns
False, writing nothing, when the run was no longer in a state it could leave that way (a
cancel won the race, say), so a second ending is impossible.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from analysis.analyzers.result import AnalysisResult
from investigations.models import Finding, QueryRun, ResultRow, RunResult
from investigations.runs import queue
from investigations.runs.sightings import Sighted, store_findings
from investigations.runsummary import no_data_reason, run_outcome
from investigations.watches.alerts import run_ended as watch_run_ended
from investigations.watches.signals import novel_peer_findings
from portal import audit, concurrency
from portal.webhooks import emit

MAX_FINDING_EVENTS = 100
_RECORD_COUNTS = ("total", "ok", "nodata", "skipdata", "malformed", "filtered_out")


def concurrency_scope(run: QueryRun) -> str | None:
    """The shared resource whose concurrent runs are capped: the run's AWS account."""
    account = (run.source_config or {}).get("account")
    return None if account is None else f"aws-account:{account}"


def slot_holder(run_id: int) -> str:
    return f"run:{run_id}"


def release_slot(run: QueryRun) -> None:
    scope = concurrency_scope(run)
    if scope is not None:
        concurrency.release(scope, holder=slot_holder(run.pk))


def succeed(
    run: QueryRun,
    *,
    results: Sequence[AnalysisResult],
    records: dict[str, Any],
    data_read: dict[str, Any],
    signal_results: Sequence[AnalysisResult] = (),
) -> bool:
    """All result tables, findings and the succeeded status in one transaction: a run's results
    appear complete or not at all. `signal_results` feed a watch's signals and are not stored
    (see watches.signals.signal_analyses)."""
    with transaction.atomic():
        audit.lock_ordered_writes()
        sighted = _store_results(run, results, signal_results)
        if not run.mark_succeeded(records=records, data_read=data_read):
            # Cancelled or failed meanwhile: drop everything written above.
            transaction.set_rollback(True)
            return False
        # The findings this run raised or sighted again become visible to pollers with the
        # run's (commit-ordered) change number.
        Finding.objects.filter(pk__in=[s.finding.pk for s in sighted]).update(
            change_number=run.change_number
        )
        findings = sorted(sighted, key=lambda s: (-s.finding.severity, s.finding.pk))
        audit.record(
            actor=None,
            action="run.succeeded",
            target=run,
            details={
                "records": {name: records.get(name) for name in _RECORD_COUNTS},
                "results": {result.name: result.total_groups for result in results},
                "findings": sum(len(result.findings) for result in results),
                "findings_new": sum(1 for s in sighted if s.created),
                "findings_sighted_again": sum(1 for s in sighted if not s.created),
            },
        )
        _finish(run, findings=findings)
    return True


def fail(run: QueryRun, *, error: str, records: dict[str, Any] | None = None) -> bool:
    """The run failed (its worker, the reaper, or a part of it says why)."""
    with transaction.atomic():
        audit.lock_ordered_writes()
        if not run.mark_failed(error=error, records=records):
            return False
        audit.record(actor=None, action="run.failed", target=run, details={"error": error})
        _finish(run)
    return True


def cancel(
    run: QueryRun,
    *,
    actor: Any = None,
    reason: str = "",
    client_ip: str | None = None,
    api_token_id: int | None = None,
) -> bool:
    """The run stops as cancelled: at once when still queued (`actor` is who cancelled it), or
    when its worker (or the reaper) sees the request."""
    with transaction.atomic():
        audit.lock_ordered_writes()
        if not run.mark_cancelled():
            return False
        audit.record(
            actor=actor,
            action="run.cancelled",
            target=run,
            details={"reason": reason} if reason else {},
            client_ip=client_ip,
            api_token_id=api_token_id,
        )
        _finish(run)
    return True


def requeue(run: QueryRun, *, reason: str) -> bool:
    """running → queued for a fresh attempt (its worker died or lost the database); the task
    is sent again once this commits. Not finished, so `run.requeued` rather than
    `run.finished` tells the webhooks."""
    with transaction.atomic():
        audit.lock_ordered_writes()
        if not run.requeue(reason=reason):
            return False
        audit.record(
            actor=None,
            action="run.requeued",
            target=run,
            details={"reason": reason, "attempts": run.attempts},
        )
        emit(
            "run.requeued",
            {
                "run": run.pk,
                "investigation": run.investigation_id,
                "status": run.status,
                "reason": reason,
                "attempts": run.attempts,
                "url": run.get_absolute_url(),
            },
            recipients=run.investigation.audience(),
        )
        release_slot(run)
        queue.execute_on_commit(run.pk)
    return True


def _finish(run: QueryRun, *, findings: Sequence[Sighted] = ()) -> None:
    """What every ending does after its audit event: tell the webhooks, free the slot."""
    audience = run.investigation.audience()
    emit(
        "run.finished",
        {
            "run": run.pk,
            "investigation": run.investigation_id,
            "status": run.status,
            # `no_data` when it succeeded without analysing a record (the reason says why).
            "outcome": run_outcome(run),
            "no_data_reason": no_data_reason(run),
            "analyses": run.analyses,
            "error": run.error or None,
            "records": {k: (run.records or {}).get(k) for k in ("total", "ok", "malformed")},
            "findings": len(findings),
            "url": run.get_absolute_url(),
        },
        recipients=audience,
    )
    for sighted in findings[:MAX_FINDING_EVENTS]:
        finding = sighted.finding
        payload = {
            "finding": finding.pk,
            "run": run.pk,
            "investigation": run.investigation_id,
            "identity": finding.identity,
            "type": finding.type,
            "severity": float(finding.severity),
            "title": finding.title,
            "status": finding.status,
            "evidence": finding.evidence,
        }
        if not sighted.created:
            payload.update(
                sighting_count=finding.sighting_count,
                previous_severity=float(sighted.previous_severity or finding.severity),
                severity_rose=sighted.severity_rose,
                reopened=sighted.reopened,
            )
        emit(
            "finding.created" if sighted.created else "finding.updated",
            payload,
            recipients=audience,
        )
    watch_run_ended(run, findings)  # a watch's run: its alerts (or its window given back)
    release_slot(run)


def _store_results(
    run: QueryRun,
    results: Sequence[AnalysisResult],
    signal_results: Sequence[AnalysisResult] = (),
) -> list[Sighted]:
    """Each result's tables and rows (up to RESULT_ROW_LIMIT a table) and its findings (and a
    watch's new-country and rare-AS signals), each a new finding or a sighting of one the
    investigation already has (by identity)."""
    limit = settings.RESULT_ROW_LIMIT
    position = 0
    items: list[dict[str, Any]] = []
    for result in results:
        data = result.to_dict()
        # The primary table under the analysis name, further ones as "<name>:<table>".
        tables = [
            (
                data["name"],
                data["title"],
                data,
                data.get("annotations") or {},
                data.get("summary") or {},
            )
        ]
        tables += [
            (f"{data['name']}:{t['name']}", t.get("title") or t["name"], t, {}, {})
            for t in data.get("tables") or []
        ]
        for analysis, title, table, labels, summary in tables:
            rows = table["rows"]
            kept = rows[:limit]
            stored = RunResult.objects.create(
                run=run,
                analysis=analysis,
                title=title,
                position=position,
                columns=table["columns"],
                row_count=len(kept),
                total_groups=table["total_groups"],
                truncated=bool(table.get("truncated")) or len(rows) > limit,
                summary=summary,
                annotations=labels,
            )
            position += 1
            _insert_rows(stored, kept)
        items.extend(data.get("findings") or [])
    # A watch's run: its hosts' first peers in a country or AS organisation are findings too.
    items.extend(novel_peer_findings(run, [*results, *signal_results]))
    return store_findings(run, items)


# A table's rows go to the database as one JSON array that the database splits into rows: one
# statement instead of a model object, a JSON encoding and a parameter set per row (a run's
# 18 analyses at their row limits save 3 to 4 times faster; bench.overhead measures it).
_ROWS_FROM_ARRAY = {
    "postgresql": (
        "INSERT INTO {table} (result_id, position, data) "
        "SELECT %s, e.ord - 1, e.value FROM jsonb_array_elements(%s::jsonb) "
        "WITH ORDINALITY AS e(value, ord)"
    ),
    "sqlite": (
        "INSERT INTO {table} (result_id, position, data) "
        "SELECT %s, CAST(e.key AS INTEGER), e.value FROM json_each(%s) AS e"
    ),
}


def _insert_rows(result: RunResult, rows: Sequence[dict[str, Any]]) -> None:
    """`rows` stored in order as the rows of `result` (positions 0, 1, ...)."""
    if not rows:
        return
    sql = _ROWS_FROM_ARRAY.get(connection.vendor)
    if sql is None:  # another database: the ORM's way
        ResultRow.objects.bulk_create(
            [ResultRow(result=result, position=i, data=row) for i, row in enumerate(rows)],
            batch_size=1000,
        )
        return
    with connection.cursor() as cursor:
        cursor.execute(
            sql.format(table=connection.ops.quote_name(ResultRow._meta.db_table)),
            [result.pk, json.dumps(list(rows))],
        )
