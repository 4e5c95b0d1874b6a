"""The parts engine: a long AWS window fetched in parts by whichever workers serve the
"download" queue, each part loaded into its own flow cache entry; the analysis gathers them.

Choosing it hands the run over (`hand_over`: one message per part, sent on commit); the
pipeline's `fetch_part` calls `fetch_part` here for each part, and once every part is in, its
`analyse_parts` loads the gathered parts with `load`. S3 objects are dealt out in turn and
CloudWatch events by timestamp, so every record is in exactly one part.
"""

from __future__ import annotations

import duckdb
from django.db import transaction
from django.utils import timezone

from analysis.engine import FlowEngine
from analysis.loadstats import LoadStats
from investigations.choices import RunStatus
from investigations.models import QueryRun
from investigations.runs import queue
from investigations.runs.context import RunContext, flow_cache
from investigations.runs.engines.base import DataRead, Loaded
from investigations.runs.engines.loading import (
    cached_read,
    fetch_and_load,
    publish_and_open,
    start_cache_entry,
    write_read,
)
from investigations.runs.progress import PARSE_SHARE, Progress


class PartsEngine:
    name = "parts"

    def __init__(self, count: int, *, fetched: bool = False) -> None:
        self.count = count
        self.fetched = fetched  # every part is in the flow cache: `load` gathers them

    def hand_over(self, ctx: RunContext) -> None:
        """Mark the run as fetched in parts and queue one fetch per part (on commit)."""
        run = ctx.run
        with transaction.atomic():
            updated = QueryRun.objects.filter(
                pk=run.pk, status=RunStatus.RUNNING, attempts=run.attempts
            ).update(
                parts_total=self.count,
                parts_done=0,
                stage=f"Fetching in {self.count} parts",
                heartbeat_at=timezone.now(),
            )
            if updated:
                queue.fetch_parts_on_commit(run.pk, run.attempts, self.count)

    def fetch_part(self, ctx: RunContext, index: int, progress: Progress) -> None:
        """Fetch part `index` and load it straight into its cache entry, where the analysis
        finds it (nothing to do if it is there already)."""
        cache = flow_cache()
        key = ctx.cache_key(part=(index, self.count))
        if cache.get(key) is not None:
            return
        ctx.scratch.mkdir(parents=True, exist_ok=True)
        try:
            pending = cache.start(key)
        except OSError as exc:
            raise _cache_error(exc) from exc
        try:
            with FlowEngine(pending.database, **ctx.engine_options()) as engine:
                stats, read = fetch_and_load(ctx, engine, progress, part=(index, self.count))
                progress.checkpoint()
                count, columns = engine.record_count(), engine.columns()
            try:
                stored = pending.publish(stats, records=count, columns=columns)
                write_read(stored.directory, read)
            except (OSError, duckdb.Error) as exc:
                raise _cache_error(exc) from exc
        finally:
            pending.discard()
        cache.evict(keep=key)

    @staticmethod
    def count_done(run: QueryRun) -> int | None:
        """Count one more part of this attempt done; the number done, or None when the run is
        no longer running this attempt."""
        with transaction.atomic():
            current = QueryRun.objects.select_for_update().filter(pk=run.pk).first()
            if current is None or current.status != RunStatus.RUNNING:
                return None
            if current.attempts != run.attempts:
                return None
            done = current.parts_done + 1
            QueryRun.objects.filter(pk=run.pk).update(parts_done=done, heartbeat_at=timezone.now())
        return done

    def load(self, ctx: RunContext, progress: Progress) -> Loaded:
        """One engine holding every part's cached rows; counts and what was read add up. The
        rows go into one cache entry for the whole window, so the next run over this window
        opens it at once instead of gathering parts again. (The parts' entries stay until
        evicted: a run over the same window gathering them at this moment still finds them.)"""
        cache = flow_cache()
        options = ctx.engine_options()
        key = ctx.cache_key()
        pending = start_cache_entry(cache, key, ctx.run.pk)
        try:
            # Inside the try: a disk full when the file is created leaves no half-built entry.
            engine = FlowEngine(pending.database if pending else None, **options)
        except BaseException:
            if pending is not None:
                pending.discard()
            raise
        progress.records = engine.records_so_far
        stats: list[LoadStats] = []
        reads: list[DataRead] = []
        try:
            for index in range(self.count):
                progress.checkpoint()  # a cancelled run gathers and publishes nothing
                progress(PARSE_SHARE[0], f"Gathering part {index + 1} of {self.count}", force=True)
                cached = cache.get(ctx.cache_key(part=(index, self.count)))
                if cached is None:
                    raise ValueError(
                        f"Part {index + 1} of {self.count} left the flow cache before the "
                        "analysis (the cache is too small for this window); run the analysis "
                        "again."
                    )
                reads.append(cached_read(cached.directory))
                cached.attach_to(engine)
                stats.append(cached.stats)
            merged, read = LoadStats.merge(stats), DataRead.merge(reads)
            progress.checkpoint()
            if pending is not None:
                engine = publish_and_open(cache, pending, engine, merged, read, options)
                progress.records = engine.records_so_far
        except BaseException:
            engine.close()
            if pending is not None:
                pending.discard()
            raise
        opened = engine
        return Loaded(
            source=opened, stats=merged, read=read, on_close=lambda outcome: opened.close()
        )


def _cache_error(exc: BaseException) -> OSError:
    return OSError(
        exc.errno if isinstance(exc, OSError) else None,
        "the flow cache, which passes each part to the analysis, cannot be written "
        f"({getattr(exc, 'strerror', None) or exc})",
    )
