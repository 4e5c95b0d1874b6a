"""Load benchmark: concurrent runs on real workers, then the read API under a fixed request rate.

Run `python -m bench.load [--runs 20] [--workers 2] [--lines 200000] [--rate 50] [--duration 60]`.

(a) starts `--workers` Celery worker processes (concurrency 1 each), submits `--runs` runs through
    the service layer at once and prints how long until all finished, and how they ended.
(b) starts gunicorn (2 workers) with production settings (DEBUG off, a secret key, no TLS
    redirect, a high API_TOKEN_RATE) and drives GET /api/v1/findings/, /api/v1/runs/ and
    /api/v1/runs/{id}/results/{analysis}/ at a fixed rate (open loop: a request leaves at its
    scheduled time whether or not earlier ones came back; latency counts from that time), then
    prints achieved rate, p50/p95/p99 latency and errors.

Everything lives in a throwaway DATA_DIR (SQLite and the folder broker) unless DATABASE_URL /
CELERY_BROKER_URL are set, in which case those are used: point them at a scratch database and a
Redis db nobody else uses. The exit status is 1 when a target is missed (a run did not succeed,
p95 >= 200 ms, any error, or the achieved rate under 95% of the target).
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ANALYSES = ["traffic-summary", "ssh-inbound", "top-talkers", "detections"]
P95_TARGET_MS = 200.0
BENCH_SECRET = "bench-load-secret-key-" + "x" * 40  # a throwaway local instance


def production_env(data_dir: Path) -> dict[str, str]:
    """Settings for every process of the bench: the bench itself, workers and gunicorn."""
    env = os.environ.copy()
    env.update(
        {
            "DATA_DIR": str(data_dir),
            "DEBUG": "false",
            "SECRET_KEY": BENCH_SECRET,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "false",
            "SESSION_COOKIE_SECURE": "false",
            "CSRF_COOKIE_SECURE": "false",
            "SECURE_HSTS_SECONDS": "0",
            "API_TOKEN_RATE": "1000000/min",
            "LOG_LEVEL": "WARNING",
            # No RDAP lookups over the internet: the bench measures the portal, not the network.
            "WHOIS_ENABLED": "false",
        }
    )
    return env


# ---------------------------------------------------------------------------------- processes


class Child:
    """A subprocess whose output is kept (and searched for a readiness line)."""

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], ready_text: str | None = None
    ) -> None:
        self.name = name
        self.output: list[str] = []
        self.ready = threading.Event()
        self.ready_text = ready_text
        self.process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            if self.ready_text and self.ready_text in line:
                self.ready.set()

    def wait_ready(self, timeout: float) -> None:
        if not self.ready.wait(timeout):
            self.stop()
            raise RuntimeError(f"{self.name} did not start:\n" + "".join(self.output[-40:]))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)


@contextmanager
def workers(count: int, env: dict[str, str]) -> Iterator[list[Child]]:
    started = []
    try:
        for index in range(count):
            child = Child(
                f"worker {index + 1}",
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "portal",
                    "worker",
                    "--queues=analyse,download",
                    "--concurrency",
                    "1",
                    "--loglevel",
                    "INFO",
                    "--without-mingle",
                    "--without-gossip",
                    "-n",
                    f"bench{index + 1}@%h",
                ],
                env,
                ready_text=" ready.",
            )
            started.append(child)
        for child in started:
            child.wait_ready(120)
        yield started
    finally:
        for child in started:
            child.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def gunicorn(env: dict[str, str], port: int, worker_count: int) -> Iterator[Child]:
    child = Child(
        "gunicorn",
        [
            sys.executable,
            "-m",
            "gunicorn",
            "portal.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(worker_count),
            "--timeout",
            "60",
        ],
        env,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _ = get("127.0.0.1", port, "/healthz", {})
                if status == 200:
                    break
            except OSError:
                pass
            if child.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start:\n" + "".join(child.output[-40:]))
            time.sleep(0.2)
        yield child
    finally:
        child.stop()


# ------------------------------------------------------------------------------- Django side


def setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)  # the same settings as the workers and gunicorn get
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


@dataclass
class Seed:
    analyst: Any
    investigations: list[Any]
    token: str = ""


def seed_people(investigation_count: int) -> Seed:
    from django.contrib.auth import get_user_model

    from investigations.services import create_investigation
    from portal.api.tokens import create_token
    from portal.roles import role_group

    user = get_user_model().objects.create_user("bench-analyst", password=None)
    user.groups.add(role_group("analyst"))
    investigations = [
        create_investigation(user=user, title=f"Bench investigation {n + 1}")
        for n in range(investigation_count)
    ]
    _token, key = create_token(
        user=user, name="bench", actor=None, scopes=["read:investigations", "read:findings"]
    )
    return Seed(analyst=user, investigations=investigations, token=key)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


# ------------------------------------------------------------------------- (a) concurrent runs


@dataclass
class RunsReport:
    seconds: float
    statuses: dict[str, int]
    waits: list[float]
    durations: list[float]
    findings: int

    @property
    def ok(self) -> bool:
        return set(self.statuses) == {"succeeded"}


def concurrent_runs(seed: Seed, *, runs: int, lines: int, data_dir: Path) -> RunsReport:
    from django.core.files import File

    from analysis.demo import generate
    from investigations.models import Finding, QueryRun
    from investigations.runs.submit import submit_run

    log = data_dir / "bench-input.log"
    generate(str(log), lines=lines, seed=3)
    started = time.perf_counter()
    submitted = []
    for index in range(runs):
        with log.open("rb") as handle:
            submitted.append(
                submit_run(
                    user=seed.analyst,
                    investigation=seed.investigations[index % len(seed.investigations)],
                    analyses=ANALYSES,
                    files=[File(handle, name=f"flows-{index + 1}.log")],
                ).pk
            )
    submit_seconds = time.perf_counter() - started
    print(f"  submitted {runs} runs of {lines:,} lines in {submit_seconds:.1f} s", flush=True)
    pending = set(submitted)
    last_report = 0.0
    while pending:
        time.sleep(0.5)
        done = set(
            QueryRun.objects.filter(pk__in=pending)
            .exclude(status__in=["queued", "running"])
            .values_list("pk", flat=True)
        )
        pending -= done
        elapsed = time.perf_counter() - started
        if elapsed - last_report >= 10:
            last_report = elapsed
            print(f"  {elapsed:5.0f} s: {runs - len(pending)}/{runs} finished", flush=True)
        if elapsed > 3600:
            raise RuntimeError(f"runs still unfinished after an hour: {sorted(pending)}")
    seconds = time.perf_counter() - started
    finished = list(QueryRun.objects.filter(pk__in=submitted))
    statuses: dict[str, int] = {}
    for run in finished:
        statuses[run.status] = statuses.get(run.status, 0) + 1
    return RunsReport(
        seconds=seconds,
        statuses=statuses,
        waits=[(r.started_at - r.created_at).total_seconds() for r in finished if r.started_at],
        durations=[
            (r.finished_at - r.started_at).total_seconds()
            for r in finished
            if r.started_at and r.finished_at
        ],
        findings=Finding.objects.filter(run_id__in=submitted).count(),
    )


# ---------------------------------------------------------------------------- (b) the read API


def get(host: str, port: int, path: str, headers: dict[str, str]) -> tuple[int, int]:
    connection = http.client.HTTPConnection(host, port, timeout=10)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read()
        return response.status, len(body)
    finally:
        connection.close()


@dataclass
class Sample:
    kind: str
    status: int
    latency_ms: float
    error: str = ""


@dataclass
class LoadReport:
    rate: float
    duration: float
    samples: list[Sample] = field(default_factory=list)
    wall: float = 0.0
    late_sends: int = 0

    @property
    def errors(self) -> list[Sample]:
        return [s for s in self.samples if s.error or s.status != 200]

    @property
    def achieved(self) -> float:
        return len(self.samples) / self.wall if self.wall else 0.0

    def latencies(self, kind: str | None = None) -> list[float]:
        return [s.latency_ms for s in self.samples if kind is None or s.kind == kind]


def read_targets() -> list[tuple[str, str]]:
    """(kind, path) in rotation: the three reads a SIEM makes."""
    from investigations.models import RunResult

    results = list(
        RunResult.objects.order_by("run_id", "position").values_list(
            "run_id", "analysis", "row_count"
        )
    )
    if not results:
        raise RuntimeError("no run results to read; run part (a) first")
    targets: list[tuple[str, str]] = []
    for index, (run_id, analysis, rows) in enumerate(results):
        targets.append(("findings", "/api/v1/findings/"))
        targets.append(("runs", "/api/v1/runs/"))
        page = 1 + index % max(1, -(-rows // 50))  # a page that exists
        targets.append(
            ("result rows", f"/api/v1/runs/{run_id}/results/{analysis}/?page={page}&page_size=50")
        )
    return targets


def drive(
    port: int, token: str, *, rate: float, duration: float, targets: list[tuple[str, str]]
) -> LoadReport:
    report = LoadReport(rate=rate, duration=duration)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    lock = threading.Lock()
    count = int(rate * duration)
    interval = 1.0 / rate

    def one(index: int, scheduled: float) -> None:
        kind, path = targets[index % len(targets)]
        try:
            status, _size = get("127.0.0.1", port, path, headers)
            error = ""
        except OSError as exc:
            status, error = 0, f"{type(exc).__name__}: {exc}"
        latency = (time.perf_counter() - scheduled) * 1000
        with lock:
            report.samples.append(Sample(kind, status, latency, error))

    # Enough threads that a slow answer never delays the next send (open loop).
    with ThreadPoolExecutor(max_workers=max(16, int(rate * 2))) as pool:
        start = time.perf_counter() + 0.2
        for index in range(count):
            scheduled = start + index * interval
            delay = scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.005:
                report.late_sends += 1
            pool.submit(one, index, scheduled)
    report.wall = time.perf_counter() - start
    return report


# -------------------------------------------------------------------------------------- main


def print_runs(report: RunsReport, runs: int, worker_count: int) -> None:
    print(
        f"  all {runs} runs finished in {report.seconds:.1f} s on {worker_count} workers: "
        + ", ".join(f"{n} {s}" for s, n in sorted(report.statuses.items()))
    )
    print(
        f"  queue wait   p50 {percentile(report.waits, 0.5):6.1f} s  "
        f"max {max(report.waits, default=0):6.1f} s"
    )
    print(
        f"  run duration p50 {percentile(report.durations, 0.5):6.1f} s  "
        f"max {max(report.durations, default=0):6.1f} s"
    )
    print(f"  findings stored: {report.findings}")


def print_load(report: LoadReport) -> None:
    total = len(report.samples)
    print(
        f"  target {report.rate:g} req/s for {report.duration:g} s: {total} requests, "
        f"achieved {report.achieved:.1f} req/s, {report.late_sends} sends late >5 ms"
    )
    print(f"  {'endpoint':<12} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for kind in (None, "findings", "runs", "result rows"):
        values = report.latencies(kind)
        print(
            f"  {kind or 'all':<12} {len(values):>6} {percentile(values, 0.5):>8.1f} "
            f"{percentile(values, 0.95):>8.1f} {percentile(values, 0.99):>8.1f} "
            f"{max(values, default=0):>8.1f}"
        )
    errors = report.errors
    print(
        f"  errors: {len(errors)}"
        + (f" (first: {errors[0].status} {errors[0].error})" if errors else "")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes")
    parser.add_argument("--lines", type=int, default=200_000, help="flow records per run")
    parser.add_argument("--rate", type=float, default=50.0, help="API requests per second")
    parser.add_argument("--duration", type=float, default=60.0, help="API load seconds")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--keep", action="store_true", help="keep the DATA_DIR afterwards")
    args = parser.parse_args(argv)

    data_dir = Path(tempfile.mkdtemp(prefix="bench-load-"))
    env = production_env(data_dir)
    database = os.environ.get("DATABASE_URL", f"sqlite (in {data_dir})")
    broker = os.environ.get("CELERY_BROKER_URL", f"folder broker (in {data_dir})")
    print(
        f"bench.load: {os.cpu_count()} CPUs, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(f"  database {database}; broker {broker}")
    failed = False
    try:
        setup_django(env)
        seed = seed_people(investigation_count=5)

        print(
            f"(a) {args.runs} concurrent runs on {args.workers} workers ({', '.join(ANALYSES)})",
            flush=True,
        )
        with workers(args.workers, env):
            runs = concurrent_runs(seed, runs=args.runs, lines=args.lines, data_dir=data_dir)
        print_runs(runs, args.runs, args.workers)
        failed |= not runs.ok

        print(f"(b) read API on gunicorn ({args.web_workers} workers, DEBUG off)", flush=True)
        targets = read_targets()
        port = free_port()
        with gunicorn(env, port, args.web_workers):
            for _kind, path in targets[:3]:  # warm up each process's imports and caches
                get("127.0.0.1", port, path, {"Authorization": f"Bearer {seed.token}"})
            load = drive(port, seed.token, rate=args.rate, duration=args.duration, targets=targets)
        print_load(load)
        p95 = percentile(load.latencies(), 0.95)
        verdict = p95 < P95_TARGET_MS and not load.errors and load.achieved >= 0.95 * args.rate
        print(
            f"  target p95 < {P95_TARGET_MS:g} ms, no errors, >= 95% of the rate: "
            f"{'met' if verdict else 'MISSED'}"
        )
        failed |= not verdict
    finally:
        if args.keep:
            print(f"  DATA_DIR kept: {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
