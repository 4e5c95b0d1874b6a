"""Benchmark: load demo flow logs and run both analyzers, against a naive Python baseline.

Run as `python -m bench.engine [--lines N]`. Prints seconds, rows/s and peak RSS per step.
"""

from __future__ import annotations

import argparse
import gzip
import resource
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from analysis.demo import generate
from analysis.engine import FlowEngine

END = datetime(2024, 5, 1, tzinfo=UTC)


def peak_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux and only grows: a step's figure is the process peak
    # so far (the naive baseline runs last, after the engine has used its memory).
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(label: str, rows: int, step: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = step()
    seconds = time.perf_counter() - started
    print(
        f"  {label:<34} {seconds:8.2f} s {rows / seconds:14,.0f} rows/s "
        f"{peak_rss_mb():9.0f} MB peak RSS"
    )
    return seconds, value


def naive_baseline(path: Path, compressed: bool) -> tuple[Counter[tuple[str, str]], Counter[str]]:
    """What a script would do: split each line into a dict, then count in Python."""
    opener: Any = gzip.open if compressed else open
    summary: Counter[tuple[str, str]] = Counter()
    ssh: Counter[str] = Counter()
    with opener(path, "rt", encoding="ascii", errors="replace") as stream:
        names = next(stream).split()
        for line in stream:
            record = dict(zip(names, line.split(), strict=False))
            if record.get("log-status") != "OK":
                continue
            summary[(record["protocol"], record["action"])] += 1
            if record["dstport"] == "22" and record["protocol"] == "6":
                ssh[record["srcaddr"]] += 1
    return summary, ssh


def run(lines: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        for compressed in (False, True):
            path = Path(folder) / ("flows.log.gz" if compressed else "flows.log")
            print(f"\n{lines:,} lines, {'gzip' if compressed else 'plain'}")
            timed(
                "generate (demo)",
                lines,
                partial(generate, path, lines=lines, end=END, gzip=compressed),
            )
            print(f"  file size {path.stat().st_size / 1e6:,.1f} MB")
            with FlowEngine(temp_directory=str(Path(folder) / "spill")) as engine:
                load_s, stats = timed("engine load", lines, partial(engine.load_files, [str(path)]))
                analysis_s = 0.0
                for name in ("traffic-summary", "ssh-inbound"):
                    seconds, _ = timed(f"engine {name}", stats.ok, partial(engine.run, name, {}))
                    analysis_s += seconds
            naive_s, _ = timed(
                "naive python (both analyses)", lines, partial(naive_baseline, path, compressed)
            )
            engine_s = load_s + analysis_s
            print(
                f"  speed ratio naive/engine: {naive_s / engine_s:.2f} for load + both analyses "
                f"({engine_s:.2f} s vs {naive_s:.2f} s; the baseline validates nothing), "
                f"{naive_s / analysis_s:,.0f} for re-running the analyses on loaded data"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000)
    run(parser.parse_args().lines)


if __name__ == "__main__":
    main()
