"""Benchmark: the loader and analyzers against a naive per-line Python baseline, and the cache.

Run `python -m bench.engine [--lines N] [--rss-lines M] [--memory-limit SIZE]
[--rss-memory-limit SIZE]`. Per step it prints wall seconds, lines/s and the process's peak RSS
so far. The speed runs use the portal's default DuckDB memory limit (ENGINE_MEMORY_LIMIT, 1GB);
the peak RSS check runs in a child process of its own (`--rss-only`) under its own, tighter
limit, so it measures that load alone.
"""

from __future__ import annotations

import argparse
import gzip
import ipaddress
import os
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
from analysis.analyzers.scope import PRIVATE_CIDRS
from analysis.cache import CachedFlows, FlowCache, cache_key
from analysis.demo import generate
from analysis.engine import FlowEngine

END = datetime(2024, 5, 1, tzinfo=UTC)
# The analyses the naive baseline does too.
CORE = (
    "traffic-summary",
    "ssh-inbound",
    "ssh-outbound",
    "external-inbound",
    "external-outbound",
    "rejected",
    "top-talkers",
    "time-series",
)


def peak_rss_mb() -> float:
    """This process's peak resident set so far, in MB.

    VmHWM (Linux) belongs to this process's own address space; ru_maxrss would carry the
    parent's peak across fork and exec (the naive baseline's gigabytes into the RSS child)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
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


def _read_dicts(path: Path, compressed: bool) -> list[dict[str, str]]:
    opener: Any = gzip.open if compressed else open
    with opener(path, "rt", encoding="ascii", errors="replace") as stream:
        names = next(stream).split()
        return [dict(zip(names, line.split(), strict=False)) for line in stream]


def _add(totals: dict[Any, list[int]], key: Any, record: dict[str, str]) -> None:
    start, end = int(record["start"]), int(record["end"])
    seen = totals.setdefault(key, [0, 0, 0, start, end])
    seen[0] += 1
    seen[1] += int(record["packets"])
    seen[2] += int(record["bytes"])
    seen[3] = min(seen[3], start)
    seen[4] = max(seen[4], end)


def _top(totals: dict[Any, list[int]], n: int = 100) -> list[tuple[Any, list[int]]]:
    return sorted(totals.items(), key=lambda item: item[1][0], reverse=True)[:n]


def naive_baseline(path: Path, compressed: bool) -> dict[str, Any]:
    """What a script would do: every record a dict held in memory, then one pass per analysis.

    The CORE analyses, each the way a per-line script computes it (ipaddress for internal
    ranges, sums in dicts): traffic-summary, ssh-inbound, ssh-outbound, external-inbound,
    external-outbound, rejected, top-talkers, time-series. Like the engine it counts only OK
    records; unlike it, it checks nothing else.
    """
    private = [ipaddress.ip_network(cidr) for cidr in PRIVATE_CIDRS]
    internal_cache: dict[str, bool] = {}

    def internal(address: str) -> bool:
        known = internal_cache.get(address)
        if known is None:
            ip = ipaddress.ip_address(address)
            known = internal_cache[address] = any(ip in network for network in private)
        return known

    records = [r for r in _read_dicts(path, compressed) if r.get("log-status") == "OK"]
    results: dict[str, Any] = {}
    summary: dict[Any, list[int]] = {}
    for r in records:
        _add(summary, (r["protocol"], r["action"]), r)
    results["traffic-summary"] = summary
    ssh_in: dict[Any, list[int]] = {}
    for r in records:
        if r["dstport"] == "22" and r["protocol"] == "6" and internal(r["dstaddr"]):
            _add(ssh_in, (r["srcaddr"], r["action"]), r)
    results["ssh-inbound"] = _top(ssh_in)
    ssh_out: dict[Any, list[int]] = {}
    for r in records:
        if r["dstport"] == "22" and r["protocol"] == "6" and internal(r["srcaddr"]):
            _add(ssh_out, (r["dstaddr"], r["action"]), r)
    results["ssh-outbound"] = _top(ssh_out)
    ext_in: dict[Any, list[int]] = {}
    for r in records:
        if not internal(r["srcaddr"]) and internal(r["dstaddr"]):
            _add(ext_in, (r["srcaddr"], r["dstaddr"], r["dstport"], r["protocol"], r["action"]), r)
    results["external-inbound"] = _top(ext_in)
    ext_out: dict[Any, list[int]] = {}
    for r in records:
        if internal(r["srcaddr"]) and not internal(r["dstaddr"]):
            _add(ext_out, (r["srcaddr"], r["dstaddr"], r["dstport"], r["protocol"], r["action"]), r)
    results["external-outbound"] = _top(ext_out)
    rejected: dict[Any, list[int]] = {}
    for r in records:
        if r["action"] == "REJECT":
            _add(rejected, (r["srcaddr"], r["dstaddr"], r["dstport"], r["protocol"]), r)
    results["rejected"] = _top(rejected)
    talkers: dict[Any, list[int]] = {}
    for r in records:
        _add(talkers, r["srcaddr"], r)
        _add(talkers, r["dstaddr"], r)
    results["top-talkers"] = sorted(talkers.items(), key=lambda item: item[1][2], reverse=True)[
        :100
    ]
    series: dict[Any, list[int]] = {}
    for r in records:
        _add(series, (int(r["start"]) // 300 * 300, r["action"]), r)
    results["time-series"] = sorted(series.items())
    return results


def run_all(engine: FlowEngine) -> int:
    params = AnalysisParams()
    columns = engine.columns()
    count = 0
    for analyzer in all_analyzers():
        if analyzer.is_applicable(params, columns) is None:
            engine.run(analyzer.name, params)
            count += 1
    return count


def each_analysis(engine: FlowEngine, lines: int) -> float:
    """Time every applicable analysis on its own; returns the seconds of the CORE ones."""
    params = AnalysisParams()
    columns = engine.columns()
    core = 0.0
    for analyzer in all_analyzers():
        if analyzer.is_applicable(params, columns) is None:
            step = partial(engine.run, analyzer.name, params)
            seconds, _ = timed(f"  {analyzer.name}", lines, step)
            if analyzer.name in CORE:
                core += seconds
    return core


def into_cache_entry(
    path: Path, lines: int, memory_limit: str, spill: str, root: str
) -> tuple[float, float, float]:
    """What a portal run does: load straight into a new cache entry's DuckDB file, publish it,
    then analyse it opened read-only. Returns (load + publish, the CORE analyses, all) s."""
    cache = FlowCache(root, max_bytes=10**11, max_age_seconds=3600)
    pending = cache.start(cache_key(source="file", location=str(path), bench="entry"))
    engine = FlowEngine(pending.database, memory_limit=memory_limit, temp_directory=spill)
    load_s, stats = timed(
        "load into a new cache entry (DuckDB file)", lines, partial(engine.load_files, [str(path)])
    )
    assert stats.files[0].method == "fast", stats.files[0]

    def publish() -> CachedFlows:
        count, columns = engine.record_count(), engine.columns()
        engine.close()
        return pending.publish(stats, records=count, columns=columns)

    publish_s, stored = timed("publish it (close, rename)", lines, publish)
    print(f"  entry size {stored.manifest['bytes'] / 1e6:,.1f} MB")
    with stored.open_engine(memory_limit=memory_limit, temp_directory=spill) as opened:
        started = time.perf_counter()
        for name in CORE:
            opened.run(name, {})
        core_s = time.perf_counter() - started
        print(f"  {'the same ' + str(len(CORE)) + ' core analyses on it':<44} {core_s:8.2f} s")
        all_s, _ = timed("all analyses on it", lines, partial(run_all, opened))
    return load_s + publish_s, core_s, all_s


def cached_open_and_one(cached: CachedFlows, memory_limit: str, spill: str) -> None:
    with cached.open_engine(memory_limit=memory_limit, temp_directory=spill) as engine:
        engine.run("traffic-summary", {})


def run(lines: int, memory_limit: str, exact: bool) -> None:
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
            # The load is timed from the page cache, not against the new file's write-back.
            os.sync()
            print(f"  file size {path.stat().st_size / 1e6:,.1f} MB")
            exact_s = 0.0
            if exact:
                with FlowEngine(memory_limit=memory_limit, temp_directory=spill) as slow:
                    slow.fast_path = False
                    exact_s, _ = timed(
                        "engine load, exact line parser",
                        lines,
                        partial(slow.load_files, [str(path)]),
                    )
            with FlowEngine(memory_limit=memory_limit, temp_directory=spill) as engine:
                load_s, stats = timed(
                    "engine load (fast path)", lines, partial(engine.load_files, [str(path)])
                )
                assert stats.files[0].method == "fast", stats.files[0]
                print("  each analysis on the loaded data:")
                core_s = each_analysis(engine, lines)
                all_s, count = timed("engine all analyses", lines, partial(run_all, engine))
                print(f"    ({count} analyses)")
                cache = FlowCache(
                    str(Path(folder) / "cache"), max_bytes=10**11, max_age_seconds=3600
                )
                key = cache_key(source="file", location=str(path))
                put_s, _ = timed(
                    "cache put (DuckDB file)", lines, partial(cache.put, key, engine, stats)
                )
            cached = cache.get(key)
            assert cached is not None
            cached_s, _ = timed(
                "cached: open + one more analysis",
                lines,
                partial(cached_open_and_one, cached, memory_limit, spill),
            )
            print("  the portal's run path:")
            entry_s, entry_core_s, entry_all_s = into_cache_entry(
                path, lines, memory_limit, spill, str(Path(folder) / "cache")
            )
            naive_s = naive_in_own_process(path, compressed, lines)
            print(
                f"  naive / engine: {naive_s / (load_s + core_s):.2f}x for load + the same "
                f"{len(CORE)} analyses ({load_s + core_s:.2f} s vs {naive_s:.2f} s); "
                f"{naive_s / (load_s + all_s):.2f}x for load + all {count} analyses; "
                f"{naive_s / core_s:,.0f}x for the {len(CORE)} analyses on loaded data"
            )
            print(
                f"  run path (load into the cache entry): "
                f"{naive_s / (entry_s + entry_core_s):.2f}x "
                f"for load + the same {len(CORE)} analyses ({entry_s + entry_core_s:.2f} s); "
                f"{naive_s / (entry_s + entry_all_s):.2f}x for load + all {count} analyses "
                f"({entry_s + entry_all_s:.2f} s), against {load_s + put_s + all_s:.2f} s "
                "loading in memory, copying into the cache and analysing"
            )
            print(
                f"  end to end: {lines / load_s:,.0f} lines/s load; "
                f"{lines / (load_s + all_s):,.0f} lines/s load + all; "
                f"one more analysis on cached data {cached_s:.2f} s"
                + (f"; exact/fast load {exact_s / load_s:.2f}x" if exact_s else "")
            )


def naive_in_own_process(path: Path, compressed: bool, lines: int) -> float:
    """Seconds of the naive baseline, run in a child process: its gigabytes of dicts must not
    weigh on the engine's later steps, nor its peak on their RSS figures."""
    command = [
        sys.executable,
        "-m",
        "bench.engine",
        "--naive-only",
        str(path),
        "--lines",
        str(lines),
    ]
    if compressed:
        command.append("--gzip")
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    shown, _, seconds = output.partition("NAIVE_SECONDS")
    print(shown.rstrip(" "), end="", flush=True)
    return float(seconds)


def naive_only(path: Path, compressed: bool, lines: int) -> None:
    seconds, _ = timed(
        f"naive python ({len(CORE)} core analyses)",
        lines,
        partial(naive_baseline, path, compressed),
    )
    print(f"NAIVE_SECONDS {seconds:.3f}")


def rss_only(lines: int, memory_limit: str, entry: bool) -> None:
    """Generate and load `lines` plain lines under `memory_limit` (in memory, or with `entry`
    into a DuckDB file as a portal run does), then run the core analyses."""
    with tempfile.TemporaryDirectory(prefix="bench-rss-") as folder:
        path = Path(folder) / "flows.log"
        generate(path, lines=lines, end=END)
        print(f"  file size {path.stat().st_size / 1e6:,.1f} MB", flush=True)
        database = str(Path(folder) / "flows.duckdb") if entry else None
        spill = str(Path(folder) / "spill")
        with FlowEngine(database, memory_limit=memory_limit, temp_directory=spill) as e:
            label = "load into a DuckDB file" if entry else "engine load (fast path)"
            timed(label, lines, partial(e.load_files, [str(path)]))
            for name in CORE:
                timed(f"engine {name}", lines, partial(e.run, name, {}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--rss-lines", type=int, default=0, help="also check peak RSS at M lines")
    parser.add_argument(
        "--memory-limit", default="1GB", help="DuckDB memory limit of the speed runs"
    )
    parser.add_argument(
        "--rss-memory-limit", default="600MB", help="DuckDB memory limit of the RSS check"
    )
    parser.add_argument("--exact", action="store_true", help="also time the exact line parser")
    parser.add_argument("--rss-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rss-entry", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--naive-only", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--gzip", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive_only is not None:
        naive_only(args.naive_only, args.gzip, args.lines)
        return
    if args.rss_only:
        rss_only(args.lines, args.memory_limit, args.rss_entry)
        return
    run(args.lines, args.memory_limit, args.exact)
    if args.rss_lines:
        for entry in (False, True):
            where = "into a DuckDB file, " if entry else ""
            print(
                f"\n{args.rss_lines:,} lines, plain, {where}memory_limit "
                f"{args.rss_memory_limit} (own process)"
            )
            command = [
                sys.executable,
                "-m",
                "bench.engine",
                "--rss-only",
                "--lines",
                str(args.rss_lines),
                "--memory-limit",
                args.rss_memory_limit,
            ]
            subprocess.run([*command, "--rss-entry"] if entry else command, check=True)


if __name__ == "__main__":
    main()
