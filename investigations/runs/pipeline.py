"""A claimed run, top to bottom: its context, the engine chosen once, the load, one analysis
loop (progress, cancellation, enrichment), then its ending through `lifecycle`.

Three entry points, one per Celery task: `execute` (a whole run; or, for a long AWS window not
yet cached, the hand-over to parts), `fetch_part` (one part of such a window) and
`analyse_parts` (the run once every part is fetched). Only the tasks import this module.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, connection

from analysis.analyzers import AnalysisParams, all_analyzers, get_analyzer
from analysis.analyzers.result import AnalysisResult
from analysis.athena.client import AthenaQueryError, QueryCancelled
from analysis.engine import LoadCancelled, storage_failure
from analysis.loadstats import LoadStats
from analysis.sources import FetchCancelled
from investigations.models import QueryRun
from investigations.runs import engines, lifecycle
from investigations.runs.context import RunContext
from investigations.runs.engines import Engine, Loaded, PartsEngine
from investigations.runs.progress import Heartbeat, PartProgress, Progress, RunCancelled
from investigations.watches.signals import signal_analyses
from investigations.whois import enricher_for

logger = logging.getLogger(__name__)

Beat = Callable[[], object] | None


def execute(run: QueryRun, *, on_heartbeat: Beat = None) -> bool:
    """Run a claimed (running) run to its end. Never raises for a problem with the run.

    `on_heartbeat` is called with every heartbeat (e.g. to renew a concurrency slot). Returns
    False when the run was handed to parts fetched by other workers (it is still running)."""
    with Heartbeat(run, settings.RUN_HEARTBEAT_SECONDS, on_heartbeat):
        return _analyse(run, engines.choose)


def analyse_parts(run: QueryRun, count: int, *, on_heartbeat: Beat = None) -> None:
    """Analyse a run whose `count` parts other workers fetched into the flow cache."""
    with Heartbeat(run, settings.RUN_HEARTBEAT_SECONDS, on_heartbeat):
        _analyse(run, lambda ctx: PartsEngine(count, fetched=True))


def fetch_part(run: QueryRun, index: int, count: int, *, on_heartbeat: Beat = None) -> bool:
    """Fetch part `index` of `count` of a running run into the flow cache, then count it done;
    True when it was the last part (the caller queues the analysis). A failed part fails the
    run with the part's reason; a cancelled one cancels it."""
    progress = PartProgress(run, index, count)
    ctx: RunContext | None = None
    with Heartbeat(run, settings.RUN_HEARTBEAT_SECONDS, on_heartbeat):
        try:
            progress.checkpoint()
            ctx = RunContext.for_run(run, scratch=f"run-{run.pk}-part-{index}")
            PartsEngine(count).fetch_part(ctx, index, progress)
        except BaseException as exc:
            _end_on_error(run, exc, part=(index, count))
            if not isinstance(exc, Exception):
                raise
            return False
        finally:
            if ctx is not None:
                shutil.rmtree(ctx.scratch, ignore_errors=True)
    done = PartsEngine.count_done(run)
    return done == count


def _analyse(run: QueryRun, pick: Callable[[RunContext], Engine]) -> bool:
    progress = Progress(run)
    ctx: RunContext | None = None
    stats: LoadStats | None = None
    try:
        ctx = RunContext.for_run(run)
        ctx.scratch.mkdir(parents=True, exist_ok=True)
        engine = pick(ctx)
        if isinstance(engine, PartsEngine) and not engine.fetched:
            engine.hand_over(ctx)  # the last part fetched queues the analysis
            return False
        with engine.load(ctx, progress) as loaded:
            stats = loaded.stats
            if stats is not None:
                _refuse_when_nothing_was_readable(stats)
            progress.checkpoint()
            results, skipped = _run_analyses(ctx, loaded, progress)
            signal_results = _run_signal_analyses(ctx, loaded, results)
        records = _records(stats, skipped, engine)
        read = loaded.read
        if ctx.suppression_rules:
            read.suppression_rules = list(ctx.suppression_rules)
        read.window = ctx.window_read()
        if stats is not None:
            read.seen = (records.get("first_seen"), records.get("last_seen"))
        progress(96, "Saving results", force=True)
        lifecycle.succeed(
            run,
            results=results,
            records=records,
            data_read=read.to_dict(),
            signal_results=signal_results,
        )
    except BaseException as exc:
        _end_on_error(run, exc, records=None if stats is None else _records(stats, {}, None))
        if not isinstance(exc, Exception):
            raise
    finally:
        if ctx is not None:
            shutil.rmtree(ctx.scratch, ignore_errors=True)
    return True


def _run_analyses(
    ctx: RunContext, loaded: Loaded, progress: Progress
) -> tuple[list[AnalysisResult], dict[str, str]]:
    """The one analysis loop, whichever engine loaded the flows: each planned analyzer over
    `flows`, its addresses enriched, a cancel noticed between analyses."""
    if loaded.stats is not None:
        ok = loaded.stats.ok
        progress.records = lambda: ok
    planned, skipped = plan_analyses(ctx.run.analyses, ctx.params, loaded.source.columns())
    runnable = []
    for analyzer in planned:
        reason = loaded.refuses(analyzer, ctx.params)
        if reason is None:
            runnable.append(analyzer)
        else:
            skipped[analyzer.name] = reason
    enricher = enricher_for(ctx.params)
    results = []
    low, high = loaded.share
    for index, analyzer in enumerate(runnable):
        progress(
            low + (high - low) * index / max(1, len(runnable)),
            f"{loaded.stage}: {analyzer.title}",
            force=True,
        )
        result = loaded.source.run(analyzer.name, ctx.params)
        enricher.annotate(result)
        results.append(result)
        progress.checkpoint()
    return results, skipped


def _run_signal_analyses(
    ctx: RunContext, loaded: Loaded, results: list[AnalysisResult]
) -> list[AnalysisResult]:
    """What a watch's signals need that the run's own analyses did not compute (geo for a
    watch made before it existed): run, not shown, not enriched, skipped when it cannot run."""
    columns = loaded.source.columns()
    extra = []
    for name in signal_analyses(ctx.run, [result.name for result in results]):
        analyzer = get_analyzer(name)
        runnable = analyzer.is_applicable(ctx.params, columns) is None
        if runnable and loaded.refuses(analyzer, ctx.params) is None:
            extra.append(loaded.source.run(name, ctx.params))
    return extra


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


def _records(
    stats: LoadStats | None, skipped: dict[str, str], engine: Engine | None
) -> dict[str, Any]:
    """The run's `records` as stored: the load's counts (server paths left out), or for an
    engine that loads nothing, its name; and the analyses skipped, with why."""
    if stats is None:
        return {"engine": getattr(engine, "name", ""), "skipped_analyses": skipped}
    records = stats.to_dict()
    for item in records["files"]:
        item.pop("path", None)
    records["skipped_analyses"] = skipped
    return records


def _refuse_when_nothing_was_readable(stats: LoadStats) -> None:
    """Fail the run when not one of its files could be read: its results would be empty
    for no reason of the traffic's. Some unreadable files only warn (the run page lists
    them)."""
    failed = stats.failed_files
    if not stats.files or len(failed) < len(stats.files):
        return
    shown = "; ".join(f"{item.name}: {item.error}" for item in failed[:3])
    more = f"; and {len(failed) - 3} more" if len(failed) > 3 else ""
    raise ValueError(f"None of the {len(stats.files)} file(s) could be read ({shown}{more}).")


def _end_on_error(
    run: QueryRun,
    exc: BaseException,
    *,
    records: dict[str, Any] | None = None,
    part: tuple[int, int] | None = None,
) -> None:
    """The one mapping from what went wrong to how the run ends: a cancel cancels it, a lost
    database connection requeues it (or fails it once its attempts are used up), anything else
    fails it with a reason the analyst can act on."""
    where = f"Part {part[0] + 1} of {part[1]}" if part else ""
    if isinstance(exc, (RunCancelled, FetchCancelled, LoadCancelled, QueryCancelled)):
        lifecycle.cancel(run)
    elif isinstance(exc, SoftTimeLimitExceeded):
        limit = settings.CELERY_TASK_SOFT_TIME_LIMIT
        if part:
            lifecycle.fail(
                run,
                error=f"{where} stopped after the time limit of {limit} s; narrow the time window.",
            )
        else:
            lifecycle.fail(
                run,
                error=f"Stopped after the time limit of {limit} s; narrow the "
                "time window or the files.",
                records=records,
            )
    elif isinstance(exc, DatabaseError):
        logger.exception(
            "Run %s %slost its database connection", run.pk, f"part {part[0]} " if part else ""
        )
        _retry_after_database_error(run, exc, records)
    elif isinstance(exc, Exception):
        logger.exception("Run %s %sfailed", run.pk, f"part {part[0]} " if part else "")
        reason = _explain(exc)
        lifecycle.fail(run, error=f"{where}: {reason}" if part else reason, records=records)


def _explain(exc: Exception) -> str:
    # DuckDB says "No space left on device" in an IOException, not an OSError: the same error.
    exc = storage_failure(exc) or exc
    if isinstance(exc, AthenaQueryError):
        where = f" (query {exc.query_id})" if exc.query_id else ""
        return f"Athena: {exc.code}: {exc.message}{where}"
    if isinstance(exc, (ValueError, FileNotFoundError, PermissionError, KeyError)):
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        return str(text)
    if isinstance(exc, OSError):
        # strerror, not str(exc): the server's paths are not the analyst's business.
        reason = exc.strerror or type(exc).__name__
        return (
            f"Storage error in the portal's scratch space: {reason}. An administrator "
            "must free or fix the data directory."
        )
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
            lifecycle.fail(
                run,
                error=f"The run was stopped: {reason}; gave up after {run.attempts} attempts.",
                records=records,
            )
            return
        lifecycle.requeue(run, reason=reason)
    except DatabaseError:
        logger.exception("Run %s: database still unreachable; the reaper will retry it", run.pk)
        connection.close()
