"""Executes one claimed QueryRun: load its flow logs into DuckDB, run the analyzers, store results.

The Celery task is a thin shell over `execute`; so is anything else that needs to run a run.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.utils import timezone

from analysis.analyzers import AnalysisParams, all_analyzers, get_analyzer
from analysis.cache import FlowCache, PendingFlows, cache_key
from analysis.engine import FlowEngine
from analysis.loadstats import LoadStats
from analysis.sources import FetchCancelled as FetchCancelledError
from analysis.window import TimeWindow
from investigations import athena_runs
from investigations.choices import RunSource, RunStatus
from investigations.models import QueryRun
from investigations.reference import reference_params
from investigations.runs import lifecycle, queue
from investigations.whois import enricher_for

logger = logging.getLogger(__name__)

LOAD_SHARE = (5, 60)  # progress percent while loading
ANALYSE_SHARE = (60, 95)  # progress percent while analysing
PROGRESS_EVERY_SECONDS = 0.5


class RunCancelled(Exception):
    """The analyst asked to stop; raised at the next stage boundary."""


class _Progress:
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


class _Heartbeat:
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

    def __enter__(self) -> _Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join(timeout=self.every + 5)


class HandedToParts(Exception):
    """The run's data is fetched in parts by other workers; the last part queues the analysis."""


Loader = Callable[
    [QueryRun, TimeWindow | None, Path, _Progress],
    tuple[FlowEngine, dict[str, Any], dict[str, Any]],
]


def execute(run: QueryRun, *, on_heartbeat: Callable[[], object] | None = None) -> bool:
    """Run a claimed (running) run to a final status. Never raises for a problem with the run.

    `on_heartbeat` is called with every heartbeat (e.g. to renew a concurrency slot). Returns
    False when the run was handed to parts fetched by other workers (it is still running)."""
    with _Heartbeat(run, settings.RUN_HEARTBEAT_SECONDS, on_heartbeat):
        return _execute(run)


def analyse_parts(
    run: QueryRun, count: int, *, on_heartbeat: Callable[[], object] | None = None
) -> None:
    """Analyse a run whose `count` parts other workers fetched into the flow cache."""
    with _Heartbeat(run, settings.RUN_HEARTBEAT_SECONDS, on_heartbeat):
        _execute(run, partial(_load_parts, count=count))


def _execute(run: QueryRun, load: Loader | None = None) -> bool:
    progress = _Progress(run)
    scratch = Path(settings.WORK_DIR) / f"run-{run.pk}"
    records: dict[str, Any] | None = None
    try:
        versions = run.reference_versions.select_related("table")
        params = AnalysisParams.from_dict({**run.parameters, **reference_params(versions)})
        window = None
        if run.window_start or run.window_end:
            window = TimeWindow.build(run.window_start, run.window_end)
        scratch.mkdir(parents=True, exist_ok=True)
        choice = athena_runs.choose_engine(run, window) if load is None else None
        if choice is not None and choice.engine == athena_runs.ATHENA:
            athena_runs.run_in_athena(
                run, params=params, window=window, progress=progress, choice=choice
            )
            return True
        engine, records, data_read = (load or _load_flows)(run, window, scratch, progress)
        if choice is not None:
            data_read["engine"] = choice.to_dict()  # Athena was considered: say why not
        with engine:
            _refuse_when_nothing_was_readable(records)
            progress.checkpoint()
            loaded = int(records.get("ok", 0))
            progress.records = lambda: loaded
            planned, skipped = plan_analyses(run.analyses, params, engine.columns())
            records["skipped_analyses"] = skipped
            results = []
            enricher = enricher_for(params)
            count = max(1, len(planned))
            for index, analyzer in enumerate(planned):
                low, high = ANALYSE_SHARE
                progress(low + (high - low) * index / count, f"Analysing: {analyzer.title}",
                         force=True)
                result = engine.run(analyzer.name, params)
                enricher.annotate(result)
                results.append(result)
                progress.checkpoint()
        data_read.update(
            window=[
                run.window_start.isoformat() if run.window_start else None,
                run.window_end.isoformat() if run.window_end else None,
            ],
            first_seen=records.get("first_seen"),
            last_seen=records.get("last_seen"),
        )
        progress(96, "Saving results", force=True)
        lifecycle.succeed(run, results=results, records=records, data_read=data_read)
    except HandedToParts:
        return False
    except FetchCancelledError:
        lifecycle.cancel(run)
    except SoftTimeLimitExceeded:
        _fail(run, f"Stopped after the time limit of {settings.CELERY_TASK_SOFT_TIME_LIMIT} s; "
              "narrow the time window or the files.", records)
    except RunCancelled:
        lifecycle.cancel(run)
    except DatabaseError as exc:
        logger.exception("Run %s lost its database connection", run.pk)
        _retry_after_database_error(run, exc, records)
    except Exception as exc:
        logger.exception("Run %s failed", run.pk)
        _fail(run, _explain(exc), records)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return True


def _refuse_when_nothing_was_readable(records: dict[str, Any]) -> None:
    """Fail the run when not one of its files could be read: its results would be empty
    for no reason of the traffic's. Some unreadable files only warn (the run page lists
    them)."""
    files = records.get("files") or []
    failed = [item for item in files if item.get("error")]
    if not files or len(failed) < len(files):
        return
    shown = "; ".join(f"{item.get('name')}: {item.get('error')}" for item in failed[:3])
    more = f"; and {len(failed) - 3} more" if len(failed) > 3 else ""
    raise ValueError(f"None of the {len(files)} file(s) could be read ({shown}{more}).")


def _load_progress(progress: _Progress, low: float, high: float) -> Any:
    def on_load(stage: str, fraction: float) -> None:
        progress(low + (high - low) * max(0.0, min(1.0, fraction)), stage)

    return on_load


def _flow_cache() -> FlowCache:
    # An entry being built belongs to a live run until the run's hard time limit has passed.
    return FlowCache(str(settings.FLOW_CACHE_DIR), max_bytes=settings.FLOW_CACHE_MAX_BYTES,
                     max_age_seconds=settings.FLOW_CACHE_MAX_AGE_SECONDS,
                     stale_seconds=settings.CELERY_TASK_TIME_LIMIT + 600)


def _window_key(window: TimeWindow | None) -> list[str | None]:
    if window is None:
        return [None, None]
    return [window.start.isoformat() if window.start else None,
            window.end.isoformat() if window.end else None]


def _engine_options(scratch: Path) -> dict[str, Any]:
    """How every engine of a run is opened: the memory and thread limits from the settings,
    spilling into the run's scratch folder."""
    return {"memory_limit": settings.ENGINE_MEMORY_LIMIT, "threads": settings.ENGINE_THREADS,
            "temp_directory": str(scratch)}


def _load_flows(
    run: QueryRun, window: TimeWindow | None, scratch: Path, progress: _Progress
) -> tuple[FlowEngine, dict[str, Any], dict[str, Any]]:
    """An engine holding the run's flows, with what was read and counted.

    Data already in the flow cache (the same uploads, or the same flow log, interfaces and
    window) is opened read-only and analysed in place: nothing is fetched, parsed or copied.
    Otherwise the data is loaded into a new engine and stored in the cache for the next run.
    """
    options = _engine_options(scratch)
    uploads: list[Any] = []
    account: Any = None
    if run.source == RunSource.FILE:
        uploads = _uploads_on_disk(run)
        key = cache_key(kind="file", window=_window_key(window),
                        uploads=[[upload.storage_key, upload.sha256] for upload in uploads])
    else:
        account, key = _aws_cache_key(run, window)
    cache = _flow_cache()
    cached = cache.get(key)
    if cached is None and run.source != RunSource.FILE:
        parts = int(run.source_config.get("parts") or 1)
        if parts > 1:
            _hand_to_parts(run, parts)
            raise HandedToParts
    if cached is not None:
        progress(PARSE_SHARE[0], "Opening cached flow data", force=True)
        try:
            read = json.loads((Path(cached.directory) / READ_FILE).read_text())
            engine = cached.open_engine(**options)
        except (OSError, ValueError, duckdb.Error):
            logger.warning("Flow cache entry %s unreadable; loading again", key, exc_info=True)
            cache.remove(key)  # or the new load's entry would lose to it when published
        else:
            progress.records = engine.records_so_far
            read["cache"] = {"hit": True, "key": key, "created": cached.manifest.get("created")}
            return engine, cached.stats.to_dict(), read
    # The load goes straight into the new cache entry's database file: stored compressed, it
    # needs no copy afterwards and a fraction of the memory, and is analysed faster. Where the
    # cache cannot be written, the load goes into memory and the next run loads again.
    pending = _start_cache_entry(cache, key, run)
    engine = FlowEngine(pending.database if pending else None, **options)
    try:
        progress.records = engine.records_so_far
        if run.source == RunSource.FILE:
            records, data_read = _load_uploads(run, uploads, engine, window, progress)
        else:
            records, data_read = _fetch_and_load(run, account, engine, window, scratch, progress)
        stats = LoadStats.from_dict(records)
        if pending is not None:
            engine = _publish_and_open(cache, pending, engine, stats, data_read, options)
        else:
            try:
                stored = cache.put(key, engine, stats)
                (Path(stored.directory) / READ_FILE).write_text(
                    json.dumps(data_read, default=str)
                )
                data_read["cache"] = {"hit": False, "key": key}
            except (OSError, ValueError, duckdb.Error):
                # A full or unwritable cache costs the next run a load, never this run its
                # result.
                logger.warning("Could not cache the flow data of run %s", run.pk, exc_info=True)
        progress.records = engine.records_so_far
    except BaseException:
        engine.close()
        if pending is not None:
            pending.discard()
        raise
    return engine, records, data_read


def _publish_and_open(
    cache: FlowCache, pending: PendingFlows, engine: FlowEngine, stats: LoadStats,
    data_read: dict[str, Any], options: dict[str, Any],
) -> FlowEngine:
    """Close `engine` (loaded into `pending`'s database), publish the entry with what was
    read, and return a read-only engine over it for the analysis; `data_read` says how the
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
        data_read["cache"] = {"hit": False, "stored": False}
        return opened
    pending.discard()  # left only when another run published the same data first
    try:
        (Path(stored.directory) / READ_FILE).write_text(json.dumps(data_read, default=str))
    except OSError:  # a later run finds the entry unreadable and loads again
        logger.warning("Could not record what was read in flow cache entry %s", pending.key,
                       exc_info=True)
    opened = stored.open_engine(**options)
    data_read["cache"] = {"hit": False, "key": pending.key}
    cache.evict(keep=pending.key)  # the open engine keeps its file even if it goes now
    return opened


def _start_cache_entry(cache: FlowCache, key: str, run: QueryRun) -> PendingFlows | None:
    """A new cache entry to load into, or None when the cache cannot be written."""
    try:
        return cache.start(key)
    except OSError:
        logger.warning("The flow cache cannot be written; run %s loads into memory", run.pk,
                       exc_info=True)
        return None


def _uploads_on_disk(run: QueryRun) -> list[Any]:
    uploads = list(run.uploads.order_by("pk"))
    missing = [upload for upload in uploads if not Path(upload.path).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} uploaded file(s) are no longer on disk; upload them again."
        )
    return uploads


def _load_uploads(
    run: QueryRun, uploads: list[Any], engine: FlowEngine, window: TimeWindow | None,
    progress: _Progress,
) -> tuple[dict[str, Any], dict[str, Any]]:
    paths = [upload.path for upload in uploads]
    progress(LOAD_SHARE[0], "Parsing flow logs", force=True)
    stats = engine.load_files(paths, window=window, progress=_load_progress(progress, *LOAD_SHARE))
    records = _with_original_names(stats.to_dict(), uploads)
    data_read = {
        "source": run.source,
        "files": [
            {**file_stats, "name": upload.original_name, "sha256": upload.sha256}
            for upload, file_stats in zip(uploads, records.get("files", []), strict=False)
        ],
    }
    return records, data_read


FETCH_SHARE = (5, 40)
PARSE_SHARE = (40, 60)


def _aws_cache_key(
    run: QueryRun, window: TimeWindow | None, part: tuple[int, int] | None = None
) -> tuple[Any, str]:
    """The run's AWS account and the cache key of the flow data it asks for (or of one part
    of it: `part` is (index, count))."""
    from accounts.models import AwsAccount

    config = run.source_config
    account = AwsAccount.objects.filter(pk=config.get("account")).first()
    if account is None:
        raise ValueError("The AWS account of this run no longer exists.")
    if window is None or window.start is None:
        raise ValueError("A run over AWS data needs a time window.")
    flow_log = config["flow_log"]
    interfaces = (config.get("instance") or {}).get("interfaces") or []
    key = cache_key(
        kind=config["kind"], account=account.account_id, flow_log=flow_log.get("flow_log_id"),
        location=[flow_log.get("log_group_name"), flow_log.get("s3_bucket"),
                  flow_log.get("s3_prefix")],
        log_format=flow_log.get("log_format"), interfaces=sorted(interfaces),
        window=_window_key(window), **({"part": list(part)} if part else {}),
    )
    return account, key


def _fetch_and_load(
    run: QueryRun, account: Any, engine: FlowEngine, window: TimeWindow | None, scratch: Path,
    progress: _Progress, part: tuple[int, int] = (0, 1),
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Assume the account's role as the analyst, fetch the flow log's data for the window from
    CloudWatch or S3 into scratch space, and load it. Records exactly what was read."""
    from accounts.conf import portal_aws_settings
    from accounts.services import assume_account_role
    from analysis import aws
    from analysis.sources import FetchRequest, get_source

    config = run.source_config
    assert window is not None
    progress(FETCH_SHARE[0], "Connecting to AWS", force=True)
    settings_ = portal_aws_settings()
    role = assume_account_role(user=run.requested_by, account=account,
                               purpose=f"run #{run.pk}", aws_settings=settings_)

    def clients(service: str, region: str) -> Any:
        return aws.make_client(role.session, service, region, settings_)

    request = replace(
        FetchRequest.for_flow_log(
            config["flow_log"], window=window,
            interface_ids=(config.get("instance") or {}).get("interfaces") or (),
        ),
        shard_index=part[0], shard_count=part[1],
    )
    source = get_source(config["kind"])(clients=clients)
    fetched = source.fetch(
        request, dest_dir=str(scratch / "fetch"),
        progress=_load_progress(progress, *FETCH_SHARE), cancel=run.cancel_was_requested,
    )
    progress(PARSE_SHARE[0], "Parsing flow logs", force=True)
    parts = [
        engine.load_files(paths, flow_format=flow_format, window=window,
                          progress=_load_progress(progress, *PARSE_SHARE)).to_dict()
        for flow_format, paths in fetched.load_groups()
    ]
    if fetched.parquet_paths:
        parts.append(engine.load_files(fetched.parquet_paths, window=window).to_dict())
    records = merge_load_stats(parts)
    data_read = {"source": config["kind"], "account": account.account_id,
                 "flow_log": config["flow_log"].get("flow_log_id"),
                 "instance": (config.get("instance") or {}).get("instance_id"),
                 "role_session": role.session_name, **fetched.read}
    return records, data_read


READ_FILE = "read.json"


# -- runs fetched in parts by several workers --------------------------------------------------


def _hand_to_parts(run: QueryRun, count: int) -> None:
    with transaction.atomic():
        updated = QueryRun.objects.filter(
            pk=run.pk, status=RunStatus.RUNNING, attempts=run.attempts
        ).update(parts_total=count, parts_done=0, stage=f"Fetching in {count} parts",
                 heartbeat_at=timezone.now())
        if updated:
            queue.fetch_parts_on_commit(run.pk, run.attempts, count)


class _PartProgress(_Progress):
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


def fetch_part(
    run: QueryRun, index: int, count: int, *, on_heartbeat: Callable[[], object] | None = None
) -> bool:
    """Fetch and load part `index` of `count` of a running run into the flow cache, then count
    it done; True when it was the last part (the caller queues the analysis). A failed part
    fails the run with the part's reason; a cancelled one cancels it."""
    scratch = Path(settings.WORK_DIR) / f"run-{run.pk}-part-{index}"
    progress = _PartProgress(run, index, count)
    with _Heartbeat(run, settings.RUN_HEARTBEAT_SECONDS, on_heartbeat):
        try:
            progress.checkpoint()
            window = TimeWindow.build(run.window_start, run.window_end)
            account, key = _aws_cache_key(run, window, part=(index, count))
            cache = _flow_cache()
            if cache.get(key) is None:
                scratch.mkdir(parents=True, exist_ok=True)
                _fetch_part_into_cache(run, account, cache, key, window, scratch, progress,
                                       part=(index, count))
        except (RunCancelled, FetchCancelledError):
            lifecycle.cancel(run)
            return False
        except SoftTimeLimitExceeded:
            _fail(run, f"Part {index + 1} of {count} stopped after the time limit of "
                  f"{settings.CELERY_TASK_SOFT_TIME_LIMIT} s; narrow the time window.", None)
            return False
        except DatabaseError as exc:
            logger.exception("Run %s part %s lost its database connection", run.pk, index)
            _retry_after_database_error(run, exc, None)
            return False
        except Exception as exc:
            logger.exception("Run %s part %s failed", run.pk, index)
            _fail(run, f"Part {index + 1} of {count}: {_explain(exc)}", None)
            return False
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    with transaction.atomic():
        current = QueryRun.objects.select_for_update().filter(pk=run.pk).first()
        if current is None or current.status != RunStatus.RUNNING:
            return False
        if current.attempts != run.attempts:
            return False
        done = current.parts_done + 1
        QueryRun.objects.filter(pk=run.pk).update(parts_done=done, heartbeat_at=timezone.now())
    return done == count


def _fetch_part_into_cache(
    run: QueryRun, account: Any, cache: FlowCache, key: str, window: TimeWindow | None,
    scratch: Path, progress: _Progress, *, part: tuple[int, int],
) -> None:
    """Fetch one part and load it straight into its cache entry, where the analysis finds it."""
    try:
        pending = cache.start(key)
    except OSError as exc:
        raise _part_cache_error(exc) from exc
    try:
        with FlowEngine(pending.database, **_engine_options(scratch)) as engine:
            records, data_read = _fetch_and_load(
                run, account, engine, window, scratch, progress, part=part
            )
            progress.checkpoint()
            count, columns = engine.record_count(), engine.columns()
        try:
            stored = pending.publish(LoadStats.from_dict(records), records=count,
                                     columns=columns)
            (Path(stored.directory) / READ_FILE).write_text(json.dumps(data_read, default=str))
        except (OSError, duckdb.Error) as exc:
            raise _part_cache_error(exc) from exc
    finally:
        pending.discard()
    cache.evict(keep=key)


def _part_cache_error(exc: BaseException) -> OSError:
    return OSError(
        exc.errno if isinstance(exc, OSError) else None,
        "the flow cache, which passes each part to the analysis, cannot be written "
        f"({getattr(exc, 'strerror', None) or exc})",
    )


def _load_parts(
    run: QueryRun, window: TimeWindow | None, scratch: Path, progress: _Progress, *, count: int
) -> tuple[FlowEngine, dict[str, Any], dict[str, Any]]:
    """One engine holding every part's cached rows; counts and what was read add up. The
    rows go into one cache entry for the whole window, so the next run over this window opens
    it at once instead of gathering parts again. (The parts' entries stay until evicted: a
    run over the same window gathering them at this moment still finds them.)"""
    cache = _flow_cache()
    options = _engine_options(scratch)
    _, key = _aws_cache_key(run, window)
    pending = _start_cache_entry(cache, key, run)
    engine = FlowEngine(pending.database if pending else None, **options)
    progress.records = engine.records_so_far
    stats: list[dict[str, Any]] = []
    reads: list[dict[str, Any]] = []
    try:
        for index in range(count):
            progress(PARSE_SHARE[0], f"Gathering part {index + 1} of {count}", force=True)
            _, part_key = _aws_cache_key(run, window, part=(index, count))
            cached = cache.get(part_key)
            if cached is None:
                raise ValueError(
                    f"Part {index + 1} of {count} left the flow cache before the analysis "
                    "(the cache is too small for this window); run the analysis again."
                )
            reads.append(json.loads((Path(cached.directory) / READ_FILE).read_text()))
            cached.attach_to(engine)
            stats.append(cached.stats.to_dict())
        records, data_read = merge_load_stats(stats), merge_reads(reads)
        if pending is not None:
            engine = _publish_and_open(
                cache, pending, engine, LoadStats.from_dict(records), data_read, options
            )
            progress.records = engine.records_so_far
    except BaseException:
        engine.close()
        if pending is not None:
            pending.discard()
        raise
    return engine, records, data_read


_SUMMED_READ = ("bytes", "events", "pages", "calls", "objects_count", "selected_count",
                "list_requests", "throttle_retries", "skipped_count", "sdk_retries")
_LISTED_READ = ("objects", "files", "streams", "skipped")


def merge_reads(reads: list[dict[str, Any]]) -> dict[str, Any]:
    """What several parts read, as one record: totals add up, lists are joined in part order,
    and each part's own record is kept under `parts`."""
    merged = dict(reads[0]) if reads else {}
    for name in _SUMMED_READ:
        if any(name in read for read in reads):
            merged[name] = sum(int(read.get(name) or 0) for read in reads)
    for name in _LISTED_READ:
        if any(isinstance(read.get(name), list) for read in reads):
            merged[name] = [item for read in reads for item in (read.get(name) or [])]
    merged.pop("shard", None)
    merged["parts"] = reads
    return merged


_COUNTS = ("total", "ok", "nodata", "skipdata", "malformed", "filtered_out")
_SAMPLE_LIMITS = {"malformed_samples": 20, "skipdata_gaps": 100}


def merge_load_stats(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Several loads (one per format) as one record: counts add up, samples are kept in order
    up to their limits, and the time span covers all."""
    merged: dict[str, Any] = {name: 0 for name in _COUNTS}
    merged.update(malformed_samples=[], skipdata_gaps=[], files=[], first_seen=None,
                  last_seen=None)
    for part in parts:
        for name in _COUNTS:
            merged[name] += int(part.get(name) or 0)
        for name, limit in _SAMPLE_LIMITS.items():
            room = limit - len(merged[name])
            merged[name].extend((part.get(name) or [])[:max(0, room)])
        merged["files"].extend(part.get("files") or [])
        for name, pick in (("first_seen", min), ("last_seen", max)):
            values = [v for v in (merged[name], part.get(name)) if v]
            merged[name] = pick(values) if values else None
    return merged


def plan_analyses(
    requested: list[str], params: AnalysisParams, columns: list[str]
) -> tuple[list[Any], dict[str, str]]:
    """The analyzers to run, and why each other requested one is not: `all` means every
    analysis the data and parameters allow; a named one the logs cannot serve (say, no
    `tcp-flags`) is skipped with the reason rather than failing the run."""
    wanted = all_analyzers() if "all" in requested else [get_analyzer(n) for n in requested]
    planned, skipped = [], {}
    for analyzer in wanted:
        reason = analyzer.is_applicable(params, columns)
        if reason is None:
            planned.append(analyzer)
        else:
            skipped[analyzer.name] = reason
    return planned, skipped


def _with_original_names(records: dict[str, Any], uploads: list[Any]) -> dict[str, Any]:
    """The engine names files by their storage key; analysts know them by their upload name."""
    names = {Path(upload.path).name: upload.original_name for upload in uploads}
    for key in ("malformed_samples", "skipdata_gaps", "files"):
        for item in records.get(key) or []:
            if item.get("file") in names:
                item["file"] = names[item["file"]]
            if item.get("name") in names:
                item["name"] = names[item["name"]]
            item.pop("path", None)  # server paths are not the analyst's business
    return records


def _explain(exc: Exception) -> str:
    if isinstance(exc, (ValueError, FileNotFoundError, PermissionError, KeyError)):
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        return str(text)
    if isinstance(exc, OSError):
        # strerror, not str(exc): the server's paths are not the analyst's business.
        reason = exc.strerror or type(exc).__name__
        return (f"Storage error in the portal's scratch space: {reason}. An administrator "
                "must free or fix the data directory.")
    return f"Internal error ({type(exc).__name__}): {exc}"


def _retry_after_database_error(
    run: QueryRun, exc: DatabaseError, records: dict[str, Any] | None
) -> None:
    """A dropped or failed-over database connection is transient: reconnect and requeue the run
    (a fresh attempt), or fail it with the reason once its attempts are used up. If the database
    is still unreachable, the reaper finds the run by its stopped heartbeat later."""
    connection.close()  # the broken connection; the next query opens a new one
    reason = f"database connection lost ({type(exc).__name__}: {str(exc).strip()[:200]})"
    try:
        run.refresh_from_db()
        if run.attempts >= settings.RUN_MAX_ATTEMPTS:
            _fail(run, f"The run was stopped: {reason}; gave up after {run.attempts} attempts.",
                  records)
            return
        lifecycle.requeue(run, reason=reason)
    except DatabaseError:
        logger.exception("Run %s: database still unreachable; the reaper will retry it", run.pk)
        connection.close()


def _fail(run: QueryRun, message: str, records: dict[str, Any] | None) -> None:
    lifecycle.fail(run, error=message, records=records)
