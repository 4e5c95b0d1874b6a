"""How much flow-log data a time window holds in S3: the size that decides the engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from analysis.athena.ddl import AthenaTable
from analysis.sources.base import DEFAULT_SLACK
from analysis.sources.s3layout import days_between
from analysis.window import TimeWindow


def window_bytes(
    s3: Any,
    table: AthenaTable,
    window: TimeWindow,
    *,
    stop_above: int | None = None,
    now: datetime | None = None,
    slack: timedelta = DEFAULT_SLACK,
) -> int:
    """Total size of the objects in the day folders the window (widened by `slack`) touches.

    Listing stops once the total passes `stop_above`: the caller only needs to know that.
    """
    if window.start is None:
        raise ValueError("the window needs a start to be sized")
    lo = window.start - slack
    hi = (window.end or now or datetime.now(UTC)) + slack
    total = 0
    paginator = s3.get_paginator("list_objects_v2")
    for day in days_between(lo, hi):
        prefix = table.layout.day_prefix(day)
        for page in paginator.paginate(Bucket=table.bucket, Prefix=prefix):
            total += sum(int(item.get("Size") or 0) for item in page.get("Contents", []))
            if stop_above is not None and total > stop_above:
                return total
    return total
