"""The gzip fast path's two readers side by side: pyarrow (analysis.arrowread, the default)
and DuckDB's own `read_csv`, each loading the same generated gzip file into a new cache
entry in a process of its own, in turns; the fastest run of each, wall and CPU seconds (all
threads) and peak RSS.

    .venv/bin/python -m bench.gzip_reader --lines 5000000 --repeat 3

Without pyarrow installed it says so and stops (exit 0): there is nothing to compare.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from analysis.cache import FlowCache, cache_key
from analysis.demo import generate
from analysis.engine import FlowEngine
from bench.engine import END

READERS = ("pyarrow", "duckdb")


def load_once(path: Path, reader: str, memory_limit: str) -> None:
    """One load into a new cache entry, as a portal run does; prints RESULT wall cpu rss."""
    if reader == "duckdb":
        from analysis import engine as engine_module

        engine_module._parsed_gzip = lambda *args: None  # DuckDB's reader
    with tempfile.TemporaryDirectory(prefix="bench-gzip-") as folder:
        cache = FlowCache(str(Path(folder) / "cache"), max_bytes=10**11, max_age_seconds=3600)
        started, cpu = time.perf_counter(), time.process_time()
        pending = cache.start(cache_key(source="file", location=str(path), bench=reader))
        engine = FlowEngine(
            pending.database, memory_limit=memory_limit, temp_directory=f"{folder}/spill"
        )
        stats = engine.load_files([str(path)])
        assert stats.files[0].method == "fast", stats.files[0]
        count, columns = engine.record_count(), engine.columns()
        engine.close()
        pending.publish(stats, records=count, columns=columns)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"RESULT {wall:.3f} {cpu:.3f} {rss:.1f} {stats.ok}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--memory-limit", default="1GB")
    parser.add_argument("--load-once", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--reader", choices=READERS, default="pyarrow", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load_once is not None:
        load_once(args.load_once, args.reader, args.memory_limit)
        return
    if importlib.util.find_spec("pyarrow") is None:
        print("pyarrow is not installed: gzip takes DuckDB's reader, nothing to compare.")
        return
    best: dict[str, tuple[float, float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-gzip-") as folder:
        path = Path(folder) / "flows.log.gz"
        generate(path, lines=args.lines, end=END, gzip=True)
        os.sync()
        print(f"{args.lines:,} lines, gzip, {path.stat().st_size / 1e6:,.1f} MB")
        for run in range(args.repeat):
            for reader in READERS:
                output = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "bench.gzip_reader",
                        "--load-once",
                        str(path),
                        "--reader",
                        reader,
                        "--memory-limit",
                        args.memory_limit,
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                wall, cpu, rss, ok = output.rpartition("RESULT")[2].split()
                load = os.getloadavg()[0]
                print(
                    f"  run {run + 1} {reader:<8} {float(wall):6.2f} s wall {float(cpu):6.2f} "
                    f"CPU s {float(rss):6.0f} MB  ({int(ok):,} records; load average {load:.1f})",
                    flush=True,
                )
                figures = (float(wall), float(cpu), float(rss))
                old = best.get(reader)
                best[reader] = (
                    figures
                    if old is None
                    else (min(old[0], figures[0]), min(old[1], figures[1]), max(old[2], figures[2]))
                )
    print("fastest of each (peak RSS the largest):")
    for reader, (fastest, least_cpu, peak) in best.items():
        print(
            f"  {reader:<8} {fastest:6.2f} s wall ({args.lines / fastest / 1e6:.2f}M lines/s) "
            f"{least_cpu:6.2f} CPU s {peak:6.0f} MB"
        )
    arrow, duck = best["pyarrow"], best["duckdb"]
    print(f"  pyarrow / duckdb: wall {arrow[0] / duck[0]:.2f}x, CPU {arrow[1] / duck[1]:.2f}x")


if __name__ == "__main__":
    main()
