"""How a running run tells the world it is alive: throttled progress (which also notices a
cancel request), and a heartbeat from a side thread while long statements run."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from django.db import close_old_connections, connection

from investigations.models import QueryRun

logger = logging.getLogger(__name__)

# Progress percent: fetching from AWS, parsing, loading (an upload), then analysing.
FETCH_SHARE = (5, 40)
PARSE_SHARE = (40, 60)
LOAD_SHARE = (5, 60)
ANALYSE_SHARE = (60, 95)
PROGRESS_EVERY_SECONDS = 0.5


class RunCancelled(Exception):
    """The analyst asked to stop; raised at the next stage boundary."""


class Progress:
    """Throttled progress writer that also notices cancellation."""

    def __init__(self, run: QueryRun) -> None:
        self.run = run
        self.last = 0.0
        # Flow records loaded so far, read when progress is written (None: not counting yet).
        self.records: Callable[[], int] | None = None

    def __call__(self, percent: float, stage: str, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < PROGRESS_EVERY_SECONDS:
            return
        self.last = now
        records = self.records() if self.records is not None else None
        self.run.report_progress(percent=int(percent), stage=stage, records=records)

    def checkpoint(self) -> None:
        if self.run.cancel_was_requested():
            raise RunCancelled

    def between(self, low: float, high: float) -> Callable[[str, float], None]:
        """A loader's progress callback (stage, fraction done) mapped onto [low, high]."""

        def on_load(stage: str, fraction: float) -> None:
            self(low + (high - low) * max(0.0, min(1.0, fraction)), stage)

        return on_load


class PartProgress(Progress):
    """Progress of one part: the stage names the part; the bar shows the parts done."""

    def __init__(self, run: QueryRun, index: int, count: int) -> None:
        super().__init__(run)
        self.label = f"Part {index + 1} of {count}"
        self.count = count

    def __call__(self, percent: float, stage: str, *, force: bool = False) -> None:
        done = QueryRun.objects.filter(pk=self.run.pk).values_list("parts_done", flat=True)
        share = (done[0] if done else 0) / self.count
        low, high = LOAD_SHARE
        super().__call__(low + (high - low) * share, f"{self.label}: {stage}", force=force)


class Heartbeat:
    """Touches the run's heartbeat from a side thread while long DuckDB statements run, so the
    reaper can tell a slow run from a dead worker."""

    def __init__(
        self, run: QueryRun, every: float, also: Callable[[], object] | None = None
    ) -> None:
        self.run_id = run.pk
        self.every = every
        self.also = also  # renews whatever else the run holds (its concurrency slot)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"heartbeat-{run.pk}", daemon=True)

    def _beat(self) -> None:
        try:
            while not self.stopped.wait(self.every):
                try:
                    QueryRun.touch_heartbeat(self.run_id)
                    if self.also is not None:
                        self.also()
                except Exception:  # a missed beat is not fatal; the next one may get through
                    logger.warning("Heartbeat for run %s failed", self.run_id, exc_info=True)
                    close_old_connections()
        finally:
            connection.close()  # this thread's own connection; it must not outlive the run

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join(timeout=self.every + 5)
