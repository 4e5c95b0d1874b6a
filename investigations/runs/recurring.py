"""Recurring destinations across runs: the (host, peer) pairs with outbound volume that the
investigation's earlier runs recorded, for unusual outbound volume to take as recurring."""

from __future__ import annotations

from investigations.choices import RunStatus
from investigations.models import QueryRun, RunResult

EARLIER_RUNS = 60  # the most recent earlier runs whose pairs a run takes (e.g. two months)


def earlier_outbound_pairs(run: QueryRun) -> list[list[str]]:
    """The `outbound_pairs` of the detections results of the investigation's succeeded runs
    whose windows ended by the time this run's window starts (most recent first): what the
    hosts reached in earlier windows. A run without a window start has none (an upload's
    records have no "earlier"), and runs over the same or an overlapping window never count,
    so running a window again cannot turn its own transfer into a recurring one."""
    if run.window_start is None:
        return []
    summaries = (
        RunResult.objects.filter(
            analysis="detections",
            run__investigation_id=run.investigation_id,
            run__status=RunStatus.SUCCEEDED,
            run__window_end__isnull=False,
            run__window_end__lte=run.window_start,
        )
        .exclude(run_id=run.pk)
        .order_by("-run__window_end", "-run_id")
        .values_list("summary", flat=True)[:EARLIER_RUNS]
    )
    pairs: dict[tuple[str, str], None] = {}
    for summary in summaries:
        for host, peer in (summary or {}).get("outbound_pairs") or []:
            pairs[(str(host), str(peer))] = None
    return [list(pair) for pair in pairs]
