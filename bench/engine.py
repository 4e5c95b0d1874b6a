"""Benchmark: the loader and analyzers against a naive per-line Python baseline, and the cache.

Run `python -m bench.engine [--lines N] [--rss-lines M] [--memory-limit SIZE]`. Per step it
prints wall seconds, lines/s and the process's peak RSS so far. The peak RSS check runs in a
child process of its own (`--rss-only`), so it measures that load alone.
"""

from __future__ import annotations

import argparse
import gzip
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from analysis.analyzers import AnalysisParams, all_analyzers
from analysis.cache import CachedFlows, FlowCache, cache_key
from analysis.demo import generate
from analysis.engine import FlowEngine

END = datetime(2024, 5, 1, tzinfo=UTC)
CORE = ("traffic-summary", "ssh-inbound")


def peak_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux and only grows: the process peak so far.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(label: str, rows: int, step: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = step()
    seconds = time.perf_counter() - started
    print(
        f"  {label:<44} {seconds:8.2f} s {rows / seconds:14,.0f} lines/s "
        f"{peak_rss_mb():8.0f} MB peak RSS",
        flush=True,
    )
    return seconds, value


def naive_baseline(path: Path, compressed: bool) -> dict[str, Any]:
    """What a script would do for the two core analyses: a dict per line, sums in Python.

    traffic-summary: flows, packets and bytes per (protocol, action); ssh-inbound: the same
    plus first start and last end per (srcaddr, action) of TCP flows to port 22. Like the
    engine it counts only OK records; unlike it, it checks nothing else.
    """
    opener: Any = gzip.open if compressed else open
    summary: dict[tuple[str, str], list[int]] = {}
    ssh: dict[tuple[str, str], list[int]] = {}
    with opener(path, "rt", encoding="ascii", errors="replace") as stream:
        names = next(stream).split()
        for line in stream:
            record = dict(zip(names, line.split(), strict=False))
            if record.get("log-status") != "OK":
                continue
            packets, size = int(record["packets"]), int(record["bytes"])
            totals = summary.setdefault((record["protocol"], record["action"]), [0, 0, 0])
            totals[0] += 1
            totals[1] += packets
            totals[2] += size
            if record["dstport"] == "22" and record["protocol"] == "6":
                start, end = int(record["start"]), int(record["end"])
                key = (record["srcaddr"], record["action"])
                seen = ssh.setdefault(key, [0, 0, 0, start, end])
                seen[0] += 1
                seen[1] += packets
                seen[2] += size
                seen[3] = min(seen[3], start)
                seen[4] = max(seen[4], end)
    return {"traffic-summary": summary, "ssh-inbound": ssh}


def run_all(engine: FlowEngine) -> int:
    params = AnalysisParams()
    columns = engine.columns()
    count = 0
    for analyzer in all_analyzers():
        if analyzer.is_applicable(params, columns) is None:
            engine.run(analyzer.name, params)
            count += 1
    return count


def cached_load_and_one(cached: CachedFlows, memory_limit: str, spill: str) -> None:
    with cached.open_engine(memory_limit=memory_limit, temp_directory=spill) as engine:
        engine.run("traffic-summary", {})


def run(lines: int, memory_limit: str) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        spill = str(Path(folder) / "spill")
        for compressed in (False, True):
            path = Path(folder) / ("flows.log.gz" if compressed else "flows.log")
            kind = "gzip" if compressed else "plain"
            print(f"\n{lines:,} lines, {kind}, memory_limit {memory_limit}")
            timed(
                "generate (demo)",
                lines,
                partial(generate, path, lines=lines, end=END, gzip=compressed),
            )
            print(f"  file size {path.stat().st_size / 1e6:,.1f} MB")
            with FlowEngine(memory_limit=memory_limit, temp_directory=spill) as exact:
                exact.fast_path = False
                exact_s, _ = timed(
                    "engine load, exact line parser", lines, partial(exact.load_files, [str(path)])
                )
            with FlowEngine(memory_limit=memory_limit, temp_directory=spill) as engine:
                load_s, stats = timed(
                    "engine load (fast path)", lines, partial(engine.load_files, [str(path)])
                )
                assert stats.files[0].method == "fast", stats.files[0]
                core_s = 0.0
                for name in CORE:
                    seconds, _ = timed(f"engine {name}", lines, partial(engine.run, name, {}))
                    core_s += seconds
                all_s, count = timed("engine all analyses", lines, partial(run_all, engine))
                print(f"    ({count} analyses)")
                cache = FlowCache(
                    str(Path(folder) / "cache"), max_bytes=10**11, max_age_seconds=3600
                )
                key = cache_key(source="file", location=str(path))
                timed("cache put (Parquet snapshot)", lines, partial(cache.put, key, engine, stats))
            cached = cache.get(key)
            assert cached is not None

            cached_s, _ = timed(
                "cached load + one analysis",
                lines,
                partial(cached_load_and_one, cached, memory_limit, spill),
            )
            naive_s, _ = timed(
                "naive python (2 core analyses)", lines, partial(naive_baseline, path, compressed)
            )
            engine_s = load_s + core_s
            print(
                f"  naive/engine: {naive_s / engine_s:.2f}x for load + the 2 core analyses "
                f"({engine_s:.2f} s vs {naive_s:.2f} s); "
                f"{naive_s / (load_s + all_s):.2f}x for load + all {count} analyses; "
                f"{naive_s / core_s:,.0f}x for the 2 core analyses on loaded data; "
                f"{naive_s / cached_s:.1f}x for cached load + one analysis; "
                f"exact/fast load: {exact_s / load_s:.2f}x"
            )


def rss_only(lines: int, memory_limit: str) -> None:
    """Generate and load `lines` plain lines under `memory_limit`, then run the core analyses."""
    with tempfile.TemporaryDirectory(prefix="bench-rss-") as folder:
        path = Path(folder) / "flows.log"
        generate(path, lines=lines, end=END)
        print(f"  file size {path.stat().st_size / 1e6:,.1f} MB", flush=True)
        with FlowEngine(memory_limit=memory_limit, temp_directory=str(Path(folder) / "spill")) as e:
            timed("engine load (fast path)", lines, partial(e.load_files, [str(path)]))
            for name in CORE:
                timed(f"engine {name}", lines, partial(e.run, name, {}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--rss-lines", type=int, default=0, help="also check peak RSS at M lines")
    parser.add_argument("--memory-limit", default="1GB")
    parser.add_argument("--rss-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_only:
        rss_only(args.lines, args.memory_limit)
        return
    run(args.lines, args.memory_limit)
    if args.rss_lines:
        print(f"\n{args.rss_lines:,} lines, plain, memory_limit {args.memory_limit} (own process)")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.engine",
                "--rss-only",
                "--lines",
                str(args.rss_lines),
                "--memory-limit",
                args.memory_limit,
            ],
            check=True,
        )


if __name__ == "__main__":
    main()
