"""What the local and the parts engines share: fetching a window of AWS flow logs into a
DuckDB engine, and publishing a loaded engine into the flow cache."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from analysis.cache import FlowCache, PendingFlows
from analysis.engine import FlowEngine
from analysis.loadstats import LoadStats
from investigations.runs.context import RunContext
from investigations.runs.engines.base import DataRead
from investigations.runs.progress import FETCH_SHARE, PARSE_SHARE, Progress

logger = logging.getLogger(__name__)

READ_FILE = "read.json"  # what was read, next to a cache entry's data


def fetch_and_load(
    ctx: RunContext, engine: FlowEngine, progress: Progress, part: tuple[int, int] = (0, 1)
) -> tuple[LoadStats, DataRead]:
    """Assume the account's role as the analyst, fetch the flow log's data for the window (or
    for one part of it: (index, count)) from CloudWatch or S3 into scratch space, and load it.
    Records exactly what was read."""
    from analysis import aws
    from analysis.sources import FetchRequest, get_source

    run, config = ctx.run, ctx.config
    assert ctx.window is not None  # RunContext refuses an AWS run without one
    progress(FETCH_SHARE[0], "Connecting to AWS", force=True)
    role, aws_settings = ctx.role(f"run #{run.pk}")

    def clients(service: str, region: str) -> Any:
        return aws.make_client(role.session, service, region, aws_settings)

    request = replace(
        FetchRequest.for_flow_log(ctx.flow_log, window=ctx.window, interface_ids=ctx.interfaces),
        shard_index=part[0],
        shard_count=part[1],
    )
    fetched = get_source(config["kind"])(clients=clients).fetch(
        request,
        dest_dir=str(ctx.scratch / "fetch"),
        progress=progress.between(*FETCH_SHARE),
        cancel=run.cancel_was_requested,
    )
    progress(PARSE_SHARE[0], "Parsing flow logs", force=True)
    loads = [
        engine.load_files(
            paths,
            flow_format=flow_format,
            window=ctx.window,
            progress=progress.between(*PARSE_SHARE),
            cancel=run.cancel_was_requested,
        )
        for flow_format, paths in fetched.load_groups()
    ]
    if fetched.parquet_paths:
        loads.append(
            engine.load_files(
                fetched.parquet_paths, window=ctx.window, cancel=run.cancel_was_requested
            )
        )
    read = DataRead(
        source=config["kind"],
        details={
            "account": ctx.account.account_id,
            "flow_log": ctx.flow_log.get("flow_log_id"),
            "instance": (config.get("instance") or {}).get("instance_id"),
            "role_session": role.session_name,
            **fetched.read,
        },
    )
    return LoadStats.merge(loads), read


def start_cache_entry(cache: FlowCache, key: str, run_id: int) -> PendingFlows | None:
    """A new cache entry to load into, or None when the cache cannot be written."""
    try:
        return cache.start(key)
    except OSError:
        logger.warning(
            "The flow cache cannot be written; run %s loads into memory", run_id, exc_info=True
        )
        return None


def write_read(directory: str, read: DataRead) -> None:
    (Path(directory) / READ_FILE).write_text(json.dumps(read.to_dict(), default=str))


def cached_read(directory: str) -> DataRead:
    return DataRead.from_dict(json.loads((Path(directory) / READ_FILE).read_text()))


def publish_and_open(
    cache: FlowCache,
    pending: PendingFlows,
    engine: FlowEngine,
    stats: LoadStats,
    read: DataRead,
    options: dict[str, Any],
) -> FlowEngine:
    """Close `engine` (loaded into `pending`'s database), publish the entry with what was
    read, and return a read-only engine over it for the analysis; `read` says how the
    cache went."""
    count, columns = engine.record_count(), engine.columns()
    engine.close()
    try:
        stored = pending.publish(stats, records=count, columns=columns)
    except OSError:
        # The data is loaded whole; only the cache entry's small files could not be written.
        # This run analyses the file where it is (open, it outlives its folder), the next
        # loads again.
        logger.warning("Could not publish flow cache entry %s", pending.key, exc_info=True)
        opened = FlowEngine(pending.database, read_only=True, **options)
        pending.discard()
        read.cache = {"hit": False, "stored": False}
        return opened
    pending.discard()  # left only when another run published the same data first
    try:
        write_read(stored.directory, read)
    except OSError:  # a later run finds the entry unreadable and loads again
        logger.warning(
            "Could not record what was read in flow cache entry %s", pending.key, exc_info=True
        )
    opened = stored.open_engine(**options)
    read.cache = {"hit": False, "key": pending.key}
    cache.evict(keep=pending.key)  # the open engine keeps its file even if it goes now
    return opened
