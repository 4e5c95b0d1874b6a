"""A portal run's fixed overhead, and the cost of saving a run's results.

Run `python -m bench.overhead [--runs 10] [--lines 6300] [--analyses traffic-summary]`.

(a) starts one Celery worker (production settings, as `bench.load` gives them) and submits
    `--runs` small uploads one after the other through the API, as a SIEM or the run form does;
    for each it times the submit request, the wait until a worker claimed the run, the run on
    the worker (load, analyse, save), the moment a poller sees it finished, and the run page
    that shows the results. The target is submit → results on the page ≤ 1 s.
(b) with the worker stopped, analyses `--save-lines` generated records with every applicable
    analysis (default parameters), then times `lifecycle.succeed`, which saves every result
    table, its rows and findings and marks the run succeeded in one transaction. Target ≤ 1 s.

A throwaway DATA_DIR (SQLite and the folder broker) unless DATABASE_URL / CELERY_BROKER_URL are
set: point them at a scratch database and a Redis db nobody else uses (they are migrated and
written to). Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.load import production_env, setup_django, workers

OVERHEAD_TARGET_S = 1.0
SAVE_TARGET_S = 1.0
POLL_SECONDS = 0.005


@dataclass
class Timing:
    submit: float  # the API request that stores the upload and queues the run
    pickup: float  # queued → a worker claimed it (database timestamps)
    on_worker: float  # claimed → finished (load, analyses, results saved)
    seen: float  # submit sent → a poller sees it finished
    page: float  # the run page with its results
    total: float  # submit sent → the page has been served


def _seed() -> tuple[Any, Any]:
    """An analyst of its own (a scratch database may hold an earlier bench's) and a case."""
    import uuid

    from django.contrib.auth import get_user_model

    from investigations.services import create_investigation
    from portal.roles import role_group

    analyst = get_user_model().objects.create_user(f"bench-{uuid.uuid4().hex[:8]}", password=None)
    analyst.groups.add(role_group("analyst"))
    return analyst, create_investigation(user=analyst, title="Fixed overhead bench")


def _client(analyst: Any) -> Any:
    from django.test import Client

    client = Client()
    client.force_login(analyst)
    return client


def _timed_run(client: Any, investigation: Any, log: Path, analyses: str) -> Timing:
    from investigations.models import QueryRun

    started = time.perf_counter()
    with log.open("rb") as upload:
        response = client.post(
            "/api/v1/runs/",
            {"investigation": investigation.pk, "analyses": analyses, "files": upload},
        )
    submitted = time.perf_counter()
    if response.status_code != 202:
        raise RuntimeError(f"submit refused ({response.status_code}): {response.content[:500]!r}")
    run_id = response.json()["id"]
    deadline = started + 120
    while True:
        run = QueryRun.objects.get(pk=run_id)
        if not run.is_active:
            break
        if time.perf_counter() > deadline:
            raise RuntimeError(f"run {run_id} still {run.status} after 120 s")
        time.sleep(POLL_SECONDS)
    seen = time.perf_counter()
    if run.status != "succeeded":
        raise RuntimeError(f"run {run_id} {run.status}: {run.error}")
    page = client.get(run.get_absolute_url())
    shown = time.perf_counter()
    if page.status_code != 200:
        raise RuntimeError(f"run page answered {page.status_code}")
    assert run.started_at is not None and run.finished_at is not None
    return Timing(
        submit=submitted - started,
        pickup=(run.started_at - run.created_at).total_seconds(),
        on_worker=(run.finished_at - run.started_at).total_seconds(),
        seen=seen - started,
        page=shown - seen,
        total=shown - started,
    )


def _results_of(log: Path) -> tuple[list[Any], dict[str, Any]]:
    from analysis.analyzers import all_analyzers
    from analysis.analyzers.params import AnalysisParams
    from analysis.cli import records_dict
    from analysis.engine import FlowEngine

    params = AnalysisParams()
    with FlowEngine() as engine:
        stats = engine.load_files([str(log)])
        columns = engine.columns()
        names = [a.name for a in all_analyzers() if a.is_applicable(params, columns) is None]
        results = [engine.run(name, params) for name in names]
    return results, records_dict(stats)


def _timed_save(analyst: Any, investigation: Any, log: Path) -> tuple[float, int, int, int]:
    """Seconds `lifecycle.succeed` took, and the tables, rows and findings it saved."""
    from investigations.models import QueryRun, ResultRow
    from investigations.runs import lifecycle
    from investigations.runs.submit import submit_run

    results, records = _results_of(log)
    with log.open("rb") as upload:
        from django.core.files import File

        run = submit_run(
            user=analyst,
            investigation=investigation,
            analyses=[result.name for result in results],
            files=[File(upload, name=log.name)],
        )
    claimed = QueryRun.claim(run.pk, worker="bench")  # no worker runs now: the bench is it
    if claimed is None:
        raise RuntimeError("the save run was taken by something else")
    started = time.perf_counter()
    if not lifecycle.succeed(claimed, results=results, records=records, data_read={}):
        raise RuntimeError("the save run could not be marked succeeded")
    seconds = time.perf_counter() - started
    tables = claimed.results.count()
    rows = ResultRow.objects.filter(result__run=claimed).count()
    findings = sum(len(result.findings) for result in results)
    return seconds, tables, rows, findings


def _line(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return (
        f"| {name} | {statistics.median(values) * 1000:.0f} ms | {p90 * 1000:.0f} ms | "
        f"{max(values) * 1000:.0f} ms |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--lines", type=int, default=6300, help="records per small upload")
    parser.add_argument("--analyses", default="traffic-summary", help="comma-separated, or all")
    parser.add_argument("--save-lines", type=int, default=200_000, help="records for (b)")
    parser.add_argument("--keep", action="store_true", help="keep the DATA_DIR afterwards")
    args = parser.parse_args(argv)

    data_dir = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    env = production_env(data_dir)
    env["ALLOWED_HOSTS"] = "127.0.0.1,localhost,testserver"  # the in-process client's host
    try:
        setup_django(env)
        from django.conf import settings

        from analysis.demo import generate

        small, large = data_dir / "small.log", data_dir / "large.log"
        generate(small, lines=args.lines, seed=11)
        generate(large, lines=args.save_lines, seed=12)
        analyst, investigation = _seed()
        client = _client(analyst)
        broker = settings.CELERY_BROKER_URL.split("://", 1)[0]
        database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        print(f"database {database}, broker {broker}, {args.lines:,} records per upload, "
              f"analyses {args.analyses}")  # fmt: skip

        with workers(1, env):
            _timed_run(client, investigation, small, args.analyses)  # warm: imports, caches
            timings = [
                _timed_run(client, investigation, small, args.analyses) for _ in range(args.runs)
            ]
        print(f"\n(a) {args.runs} runs one after the other, one worker\n")
        print("| step | median | p90 | max |\n| --- | --- | --- | --- |")
        for name in ("submit", "pickup", "on_worker", "seen", "page", "total"):
            print(_line(name.replace("_", " "), [getattr(t, name) for t in timings]))
        overhead = statistics.median(t.total for t in timings)

        _timed_save(analyst, investigation, small)  # warm: what a worker imports once
        seconds, tables, rows, findings = _timed_save(analyst, investigation, large)
        print(
            f"\n(b) saving every applicable analysis of {args.save_lines:,} records "
            f"({tables} tables, {rows:,} rows, {findings} findings): {seconds:.2f} s"
        )
        missed = []
        if overhead > OVERHEAD_TARGET_S:
            missed.append(f"fixed overhead {overhead:.2f} s > {OVERHEAD_TARGET_S:.0f} s")
        if seconds > SAVE_TARGET_S:
            missed.append(f"saving {seconds:.2f} s > {SAVE_TARGET_S:.0f} s")
        print("\ntargets: " + ("; ".join(missed) if missed else "met"))
        return 1 if missed else 0
    finally:
        if args.keep:
            print(f"kept {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
