"""time-series: flows, packets and bytes per time bin and action, for charts."""

from __future__ import annotations

import math
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from analysis.analyzers.base import Analyzer, FetchRows, register
from analysis.analyzers.params import AnalysisParams
from analysis.analyzers.result import AnalysisResult

# Bin sizes a reader recognises, in seconds: 1 s up to 4 weeks.
NICE_BINS = (
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
    86400, 172800, 604800, 2419200,
)  # fmt: skip
TARGET_BINS = 300
MAX_BINS = 10_000


def auto_bin_seconds(span_seconds: int, target: int = TARGET_BINS) -> int:
    """The smallest nice bin size giving at most `target` bins over the span."""
    for size in NICE_BINS:
        if math.ceil(max(span_seconds, 1) / size) <= target:
            return size
    return max(NICE_BINS[-1], math.ceil(span_seconds / target))


def iso_epoch(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


@register
class TimeSeriesAnalyzer(Analyzer):
    name = "time-series"
    title = "Traffic over time"
    description = (
        "Flows, packets and bytes per time bin and action (bins sized from the data's span, "
        "about 100 to 300 of them, or time_bin_seconds); a flow counts in the bin of its start."
    )
    required_fields = ("start", "action", "packets", "bytes")
    order = 80
    local_only = ""

    def series_sql(self, bin_seconds: int) -> str:
        bin_sql = f'("start" - ("start" % {int(bin_seconds)}))'
        return (
            f"SELECT {bin_sql} AS bin, action, COUNT(*) AS flows,\n"
            "       COALESCE(SUM(packets), 0) AS packets, COALESCE(SUM(bytes), 0) AS bytes\n"
            'FROM flows WHERE "start" IS NOT NULL\n'
            f"GROUP BY {bin_sql}, action\n"
            "ORDER BY bin ASC, action ASC"
        )

    def analyze_rows(
        self, fetch: FetchRows, params: AnalysisParams, columns: Collection[str]
    ) -> AnalysisResult:
        bounds = next(
            iter(fetch('SELECT MIN("start"), MAX("start") FROM flows WHERE "start" IS NOT NULL')),
            None,
        )
        names = ["time", "action", "flows", "packets", "bytes"]
        if bounds is None or bounds[0] is None:
            return AnalysisResult(self.name, self.title, names, [], 0, False, {"bins": 0})
        first, last = int(bounds[0]), int(bounds[1])
        span = last - first + 1
        requested = params.time_bin_seconds
        size = requested or auto_bin_seconds(span)
        if math.ceil(span / size) > MAX_BINS:
            size = auto_bin_seconds(span, MAX_BINS)
        counts: dict[tuple[int, str | None], tuple[int, int, int]] = {
            (int(bin_start), action): (int(flows), int(packets), int(size_bytes))
            for bin_start, action, flows, packets, size_bytes in fetch(self.series_sql(size))
        }
        actions = sorted({action for _, action in counts}, key=lambda a: (a is None, a or ""))
        start_bin = first - first % size
        bins = list(range(start_bin, last + 1, size))
        # Every bin of every action, zeros included, so a chart needs no gap filling.
        rows: list[dict[str, Any]] = []
        for bin_start in bins:
            for action in actions:
                flows, packets, size_bytes = counts.get((bin_start, action), (0, 0, 0))
                rows.append(
                    {
                        "time": iso_epoch(bin_start),
                        "action": action,
                        "flows": flows,
                        "packets": packets,
                        "bytes": size_bytes,
                    }
                )
        summary: dict[str, Any] = {
            "bin_seconds": size,
            "bins": len(bins),
            "first": iso_epoch(start_bin),
            "last": iso_epoch(bins[-1]),
            "flows": sum(value[0] for value in counts.values()),
            "packets": sum(value[1] for value in counts.values()),
            "bytes": sum(value[2] for value in counts.values()),
        }
        if requested is not None and requested != size:
            summary["bin_seconds_requested"] = requested
            summary["note"] = (
                f"time_bin_seconds={requested} would give more than {MAX_BINS} bins; "
                f"{size} s bins are used instead"
            )
        return AnalysisResult(
            name=self.name,
            title=self.title,
            columns=names,
            rows=rows,
            total_groups=len(rows),
            truncated=False,
            summary=summary,
        )
