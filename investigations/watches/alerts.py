"""What a watch's run showed that its earlier runs did not: its alerts.

`run_ended` is called by `runs.lifecycle` inside the transaction that ends any run, so a
watch's alerts appear with the run's results or not at all. For a run a watch started:
- succeeded: alerts for findings new to the investigation (a new identity, not a sighting of a
  known one; `new_country` and `rare_as` for the watch's own signals, see `watches.signals`),
  sightings whose severity rose, REJECT flows or bytes to external peers above
  mean + k·sigma of the watch's earlier runs (once it has WATCH_MIN_BASELINE_RUNS of them), and
  SKIPDATA records (intervals the flow log could not capture). Each alert is a `WatchAlert`
  row (the API's change feed), an audit event on the investigation (its timeline) and a
  `watch.alert` webhook.
- failed or cancelled: its window was not analysed, so the watch's next window starts where
  this one did (no gap).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from django.conf import settings

from analysis.findings import NEW_PEER_AS_ORG, NEW_PEER_COUNTRY
from investigations.choices import RunStatus
from investigations.models import QueryRun
from investigations.watches.models import AlertKind, Watch, WatchAlert, WatchRun
from portal import audit
from portal.webhooks import emit

# A new finding of the watch's own signals is an alert of its own kind.
NEW_FINDING_KINDS = {NEW_PEER_COUNTRY: AlertKind.NEW_COUNTRY, NEW_PEER_AS_ORG: AlertKind.RARE_AS}


def run_ended(run: QueryRun, findings: Sequence[Any] = ()) -> list[WatchAlert]:
    """`findings`: the run's `runs.sightings.Sighted` (empty unless it succeeded)."""
    watch_run = WatchRun.objects.filter(run=run).select_related("watch").first()
    if watch_run is None:
        return []
    watch = watch_run.watch
    if run.status != RunStatus.SUCCEEDED:
        # Not analysed: give the window back, unless a later run already read past it.
        Watch.objects.filter(pk=watch.pk, last_window_end=watch_run.window_end).update(
            last_window_end=watch_run.window_start
        )
        return []
    rejected, external = measures(run)
    WatchRun.objects.filter(pk=watch_run.pk).update(
        rejected_flows=rejected, external_bytes=external
    )
    earlier = list(
        WatchRun.objects.filter(
            watch=watch, run__status=RunStatus.SUCCEEDED, window_end__lte=watch_run.window_start
        ).values_list("rejected_flows", "external_bytes")
    )
    alerts = [*_finding_alerts(watch, run, findings)]
    for kind, value, history, what in (
        (AlertKind.REJECTED_SPIKE, rejected, [r for r, _ in earlier], "REJECT flows"),
        (AlertKind.EXTERNAL_BYTES_SPIKE, external, [e for _, e in earlier], "bytes to external"),
    ):
        alert = _spike(watch, run, kind, value, [h for h in history if h is not None], what)
        if alert is not None:
            alerts.append(alert)
    skipped = int((run.records or {}).get("skipdata") or 0)
    if skipped:
        alerts.append(
            WatchAlert(
                watch=watch,
                run=run,
                kind=AlertKind.COVERAGE_GAP,
                summary=f"{skipped} SKIPDATA record{'s' if skipped != 1 else ''}: the flow log "
                "missed traffic in this window",
                details={"skipdata": skipped},
            )
        )
    for alert in alerts:
        alert.change_number = run.change_number
        alert.details = {
            **alert.details,
            "window": [watch_run.window_start.isoformat(), watch_run.window_end.isoformat()],
        }
    WatchAlert.objects.bulk_create(alerts)
    audience = watch.investigation.audience() if alerts else []
    for alert in alerts:
        _announce(alert, audience)
    return alerts


def measures(run: QueryRun) -> tuple[int | None, int | None]:
    """(REJECT flows from traffic-summary, outbound bytes from external-summary); None when the
    run has no such table or it was cut short (a partial total is no baseline)."""
    rejected = external = None
    for result in run.results.filter(analysis__in=("traffic-summary", "external-summary")):
        if result.truncated:
            continue
        rows = list(result.rows.values_list("data", flat=True))
        if result.analysis == "traffic-summary":
            rejected = sum(int(r.get("flows") or 0) for r in rows if r.get("action") == "REJECT")
        else:
            external = sum(
                int(r.get("bytes") or 0) for r in rows if r.get("direction") == "outbound"
            )
    return rejected, external


def _finding_alerts(watch: Watch, run: QueryRun, findings: Sequence[Any]) -> list[WatchAlert]:
    alerts = []
    for sighted in findings:
        finding = sighted.finding
        base = {
            "identity": finding.identity,
            "type": finding.type,
            "severity": float(finding.severity),
        }
        if sighted.created:
            kind = NEW_FINDING_KINDS.get(finding.type, AlertKind.NEW_FINDING)
            alerts.append(
                WatchAlert(
                    watch=watch,
                    run=run,
                    finding=finding,
                    kind=kind,
                    summary=(
                        f"New finding: {finding.title}"
                        if kind == AlertKind.NEW_FINDING
                        else finding.title
                    )[:300],
                    details=base if kind == AlertKind.NEW_FINDING else {**base, **finding.evidence},
                )
            )
        elif sighted.severity_rose:
            previous = float(sighted.previous_severity)
            alerts.append(
                WatchAlert(
                    watch=watch,
                    run=run,
                    finding=finding,
                    kind=AlertKind.SEVERITY_RISE,
                    summary=f"Severity {previous:g} → {float(finding.severity):g}: {finding.title}"[
                        :300
                    ],
                    details={**base, "previous_severity": previous},
                )
            )
    return alerts


def spike_threshold(history: Sequence[int], k: float) -> float | None:
    """mean + k·sigma (population sigma) of the earlier runs; None below the minimum baseline."""
    if len(history) < settings.WATCH_MIN_BASELINE_RUNS:
        return None
    return statistics.fmean(history) + k * statistics.pstdev(history)


def _spike(
    watch: Watch,
    run: QueryRun,
    kind: str,
    value: int | None,
    history: list[int],
    what: str,
) -> WatchAlert | None:
    if value is None:
        return None
    threshold = spike_threshold(history, watch.k)
    if threshold is None or value <= threshold:
        return None
    mean = statistics.fmean(history)
    return WatchAlert(
        watch=watch,
        run=run,
        kind=kind,
        summary=f"{value:,} {what} (baseline {mean:,.0f}, threshold {threshold:,.0f} "
        f"at k={watch.k:g}, {len(history)} runs)"[:300],
        details={
            "value": value,
            "mean": mean,
            "stdev": statistics.pstdev(history),
            "k": watch.k,
            "threshold": threshold,
            "baseline_runs": len(history),
        },
    )


def _announce(alert: WatchAlert, audience: list[Any]) -> None:
    watch = alert.watch
    payload = {
        "alert": alert.pk,
        "watch": watch.pk,
        "watch_name": watch.name,
        "investigation": watch.investigation_id,
        "run": alert.run_id,
        "kind": alert.kind,
        "summary": alert.summary,
        "finding": alert.finding_id,
        "details": alert.details,
        "url": watch.get_absolute_url(),
    }
    audit.record(actor=None, action="watch.alert", target=watch.investigation, details=payload)
    emit("watch.alert", payload, recipients=audience)
