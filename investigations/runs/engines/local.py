"""The local engine: the run's flows in one DuckDB `flows` relation on this worker.

Data already in the flow cache (the same uploads, or the same flow log, interfaces and window)
is opened read-only and analysed in place: nothing is fetched, parsed or copied. Otherwise the
uploads are parsed (or the AWS window fetched) straight into a new cache entry's database
file, published once the load is whole, for the next run.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb

from analysis.engine import FlowEngine
from analysis.formats import FlowFormat
from analysis.loadstats import LoadStats
from investigations.choices import RunSource
from investigations.runs.context import RunContext, flow_cache
from investigations.runs.engines.base import DataRead, Loaded
from investigations.runs.engines.loading import (
    cached_read,
    fetch_and_load,
    publish_and_open,
    start_cache_entry,
    write_read,
)
from investigations.runs.progress import LOAD_SHARE, PARSE_SHARE, Progress

logger = logging.getLogger(__name__)


class LocalEngine:
    name = "local"

    def __init__(self, choice: dict[str, Any] | None = None) -> None:
        self.choice = choice  # why Athena was not used, when it was considered

    def load(self, ctx: RunContext, progress: Progress) -> Loaded:
        uploads = uploads_on_disk(ctx) if not ctx.is_aws else []
        options = ctx.engine_options()
        key = ctx.cache_key()
        cache = flow_cache()
        cached = cache.get(key)
        engine: FlowEngine | None = None
        if cached is not None:
            progress(PARSE_SHARE[0], "Opening cached flow data", force=True)
            try:
                read = cached_read(cached.directory)
                engine = cached.open_engine(**options)
            except (OSError, ValueError, duckdb.Error):
                logger.warning("Flow cache entry %s unreadable; loading again", key, exc_info=True)
                cache.remove(key)  # or the new load's entry would lose to it when published
            else:
                stats = cached.stats
                read.cache = {"hit": True, "key": key, "created": cached.manifest.get("created")}
        if engine is None:
            engine, stats, read = self._load(ctx, uploads, key, progress)
        progress.records = engine.records_so_far
        if self.choice is not None:
            read.engine = self.choice  # Athena was considered: say why not
        return Loaded(
            source=engine, stats=stats, read=read, on_close=lambda outcome: engine.close()
        )

    def _load(
        self, ctx: RunContext, uploads: list[Any], key: str, progress: Progress
    ) -> tuple[FlowEngine, LoadStats, DataRead]:
        # The load goes straight into the new cache entry's database file: stored compressed,
        # it needs no copy afterwards and a fraction of the memory, and is analysed faster.
        # Where the cache cannot be written, the load goes into memory and the next run loads
        # again.
        cache = flow_cache()
        options = ctx.engine_options()
        pending = start_cache_entry(cache, key, ctx.run.pk)
        try:
            # Inside the try: a disk full when the file is created leaves no half-built entry.
            engine = FlowEngine(pending.database if pending else None, **options)
        except BaseException:
            if pending is not None:
                pending.discard()
            raise
        try:
            progress.records = engine.records_so_far
            if ctx.is_aws:
                stats, read = fetch_and_load(ctx, engine, progress)
            else:
                stats, read = load_uploads(ctx, uploads, engine, progress)
            # A run cancelled as its load ends publishes nothing to the shared cache.
            progress.checkpoint()
            if pending is not None:
                engine = publish_and_open(cache, pending, engine, stats, read, options)
            else:
                try:
                    stored = cache.put(key, engine, stats)
                    write_read(stored.directory, read)
                    read.cache = {"hit": False, "key": key}
                except (OSError, ValueError, duckdb.Error):
                    # A full or unwritable cache costs the next run a load, never this run its
                    # result.
                    logger.warning(
                        "Could not cache the flow data of run %s", ctx.run.pk, exc_info=True
                    )
        except BaseException:
            engine.close()
            if pending is not None:
                pending.discard()
            raise
        return engine, stats, read


def uploads_on_disk(ctx: RunContext) -> list[Any]:
    uploads = list(ctx.run.uploads.order_by("pk"))
    missing = [upload for upload in uploads if not Path(upload.path).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} uploaded file(s) are no longer on disk; upload them again."
        )
    return uploads


def load_uploads(
    ctx: RunContext, uploads: list[Any], engine: FlowEngine, progress: Progress
) -> tuple[LoadStats, DataRead]:
    progress(LOAD_SHARE[0], "Parsing flow logs", force=True)
    # Header-less files in a custom format: the fields the uploader named (else each file's
    # header line, else the AWS default).
    log_format = (ctx.run.source_config or {}).get("log_format")
    stats = engine.load_files(
        [upload.path for upload in uploads],
        flow_format=FlowFormat.from_text(log_format) if log_format else None,
        window=ctx.window,
        progress=progress.between(*LOAD_SHARE),
        cancel=ctx.run.cancel_was_requested,
    )
    stats = named_for_analysts(stats, uploads)
    read = DataRead(
        source=RunSource.FILE,
        details={
            **({"log_format": log_format} if log_format else {}),
            "files": [
                {
                    **without_path(file_stats.to_dict()),
                    "name": upload.original_name,
                    "sha256": upload.sha256,
                }
                for upload, file_stats in zip(uploads, stats.files, strict=False)
            ],
        },
    )
    return stats, read


def named_for_analysts(stats: LoadStats, uploads: list[Any]) -> LoadStats:
    """The engine names files by their storage key; analysts know them by their upload name.
    Server paths are not the analyst's business: they are dropped."""
    names = {Path(upload.path).name: upload.original_name for upload in uploads}
    return replace(
        stats,
        malformed_samples=[
            replace(s, file=names.get(s.file, s.file)) for s in stats.malformed_samples
        ],
        skipdata_gaps=[replace(g, file=names.get(g.file, g.file)) for g in stats.skipdata_gaps],
        files=[replace(f, name=names.get(f.name, f.name), path="") for f in stats.files],
    )


def without_path(item: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in item.items() if name != "path"}
