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
from bench import peer

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


def run(
    lines: int, memory_limit: str, exact: bool, detail: bool, repeat: int
) -> dict[str, dict[str, float]]:
    """Per kind (plain, gzip): the in-process detail (with `detail`), then the side by side
    runs each in a process of its own. Returns the figures the targets are judged on."""
    figures: dict[str, dict[str, float]] = {}
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
            figures[kind] = side_by_side(path, compressed, lines, memory_limit, repeat)
            if detail:
                figures[kind].update(in_process(path, lines, memory_limit, exact, spill, folder))
    return figures


def side_by_side(
    path: Path, compressed: bool, lines: int, memory_limit: str, repeat: int
) -> dict[str, float]:
    """The naive baseline, the unvalidated DuckDB peer and ours (a portal run: load into a new
    cache entry, then the 8 core analyses, then all), each in a process of its own."""
    print("  each in a process of its own:", flush=True)
    naive_s, naive_mb = naive_in_own_process(path, compressed, lines)
    # The peer and ours take turns, `repeat` times each: on a shared box the load of the
    # moment moves a single run by half; the fastest of each is compared, and the largest
    # peak RSS.
    peer_s, peer_mb = float("inf"), 0.0
    ours: dict[str, float] = {}
    core_s = all_s = float("inf")
    for _ in range(repeat):
        seconds, mb = peer_in_own_process(path, lines)
        peer_s, peer_mb = min(peer_s, seconds), max(peer_mb, mb)
        run = ours_in_own_process(path, lines, memory_limit)
        if run["load"] + run["core"] < core_s:
            core_s, ours["load"] = run["load"] + run["core"], run["load"]
        all_s = min(all_s, run["load"] + run["all"])
        ours["count"] = run["count"]
        ours["core_mb"] = max(ours.get("core_mb", 0.0), run["core_mb"])
        ours["all_mb"] = max(ours.get("all_mb", 0.0), run["all_mb"])
    if repeat > 1:
        print(f"  fastest of {repeat} runs each, largest peak RSS:")
    print(f"  {'':<44} {'wall s':>10} {'peak RSS MB':>26}")
    for label, seconds, mb in (
        (f"naive python, {len(CORE)} core analyses", naive_s, naive_mb),
        (f"peer: read_csv + SQL, {len(CORE)} core", peer_s, peer_mb),
        (f"ours: load + {len(CORE)} core", core_s, ours["core_mb"]),
        (f"ours: load + all {int(ours['count'])}", all_s, ours["all_mb"]),
    ):
        print(f"  {label:<44} {seconds:8.2f} s {mb:24,.0f} MB")
    print(
        f"  ours / peer (load + {len(CORE)} core): time {core_s / peer_s:.2f}x, "
        f"memory {ours['core_mb'] / peer_mb:.2f}x"
    )
    print(
        f"  naive / ours: {naive_s / core_s:.2f}x (load + {len(CORE)} core), "
        f"{naive_s / all_s:.2f}x (load + all)",
        flush=True,
    )
    return {
        "naive_s": naive_s,
        "peer_s": peer_s,
        "peer_mb": peer_mb,
        "core_s": core_s,
        "core_mb": ours["core_mb"],
        "all_s": all_s,
        "load_s": ours["load"],
    }


def in_process(
    path: Path, lines: int, memory_limit: str, exact: bool, spill: str, folder: str
) -> dict[str, float]:
    """Each step timed in this process: loads, each analysis, the cache."""
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
        each_analysis(engine, lines)
        all_s, count = timed("engine all analyses", lines, partial(run_all, engine))
        print(f"    ({count} analyses)")
        cache = FlowCache(str(Path(folder) / "cache"), max_bytes=10**11, max_age_seconds=3600)
        key = cache_key(source="file", location=str(path))
        put_s, _ = timed("cache put (DuckDB file)", lines, partial(cache.put, key, engine, stats))
    cached = cache.get(key)
    assert cached is not None
    cached_s, _ = timed(
        "cached: open + one more analysis",
        lines,
        partial(cached_open_and_one, cached, memory_limit, spill),
    )
    print("  the portal's run path:")
    entry_s, _, entry_all_s = into_cache_entry(
        path, lines, memory_limit, spill, str(Path(folder) / "cache")
    )
    print(
        f"  run path: load into the cache entry + all {count} analyses "
        f"{entry_s + entry_all_s:.2f} s, against {load_s + put_s + all_s:.2f} s "
        "loading in memory, copying into the cache and analysing"
    )
    print(
        f"  in memory: {lines / load_s:,.0f} lines/s load; "
        f"{lines / (load_s + all_s):,.0f} lines/s load + all; "
        f"one more analysis on cached data {cached_s:.2f} s"
        + (f"; exact/fast load {exact_s / load_s:.2f}x" if exact_s else "")
    )
    return {"cached_s": cached_s, "memory_load_s": load_s}


def naive_in_own_process(path: Path, compressed: bool, lines: int) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of the naive baseline, run in a child process: its gigabytes
    of dicts must not weigh on the engine's later steps, nor its peak on their RSS figures."""
    seconds, rss = _child("--naive-only", path, lines, *(["--gzip"] if compressed else []))
    return float(seconds), float(rss)


def naive_only(path: Path, compressed: bool, lines: int) -> None:
    seconds, _ = timed(
        f"naive python ({len(CORE)} core analyses)",
        lines,
        partial(naive_baseline, path, compressed),
    )
    print(f"RESULT {seconds:.3f} {peak_rss_mb():.1f}")


def _child(mode: str, path: Path, lines: int, *extra: str) -> list[str]:
    """Run this bench in a child process in `mode`; print its output and return the figures of
    its last line (`RESULT ...`)."""
    command = [sys.executable, "-m", "bench.engine", mode, str(path), "--lines", str(lines)]
    output = subprocess.run([*command, *extra], check=True, capture_output=True, text=True).stdout
    shown, _, figures = output.rpartition("RESULT")
    print(shown, end="", flush=True)
    return figures.split()


def peer_in_own_process(path: Path, lines: int) -> tuple[float, float]:
    seconds, rss = _child("--peer-only", path, lines)
    return float(seconds), float(rss)


def peer_only(path: Path, lines: int) -> None:
    """The peer's load and its 8 analyses (bench.peer), DuckDB's defaults, in this process."""
    seconds, _ = timed(
        f"peer: read_csv + SQL, {len(CORE)} core", lines, partial(peer.run, str(path))
    )
    print(f"RESULT {seconds:.3f} {peak_rss_mb():.1f}")


def ours_in_own_process(path: Path, lines: int, memory_limit: str) -> dict[str, float]:
    load, core, core_mb, all_s, all_mb, count = _child(
        "--ours-only", path, lines, "--memory-limit", memory_limit
    )
    return {
        "load": float(load),
        "core": float(core),
        "core_mb": float(core_mb),
        "all": float(all_s),
        "all_mb": float(all_mb),
        "count": float(count),
    }


def ours_only(path: Path, lines: int, memory_limit: str) -> None:
    """A portal run in this process: load into a new cache entry (every check, the exact
    counts, the entry published), then the 8 core analyses on it, then all of them."""
    with tempfile.TemporaryDirectory(prefix="bench-ours-") as folder:
        cache = FlowCache(str(Path(folder) / "cache"), max_bytes=10**11, max_age_seconds=3600)
        spill = str(Path(folder) / "spill")

        def load() -> CachedFlows:
            pending = cache.start(cache_key(source="file", location=str(path), bench="ours"))
            engine = FlowEngine(pending.database, memory_limit=memory_limit, temp_directory=spill)
            stats = engine.load_files([str(path)])
            assert stats.files[0].method == "fast", stats.files[0]
            count, columns = engine.record_count(), engine.columns()
            engine.close()
            return pending.publish(stats, records=count, columns=columns)

        load_s, stored = timed("ours: load into a new cache entry", lines, load)
        with stored.open_engine(memory_limit=memory_limit, temp_directory=spill) as opened:

            def core() -> None:
                for name in CORE:
                    opened.run(name, {})

            core_s, _ = timed(f"ours: the {len(CORE)} core analyses on it", lines, core)
            core_mb = peak_rss_mb()
            all_s, count = timed("ours: all analyses on it", lines, partial(run_all, opened))
    print(f"RESULT {load_s:.3f} {core_s:.3f} {core_mb:.1f} {all_s:.3f} {peak_rss_mb():.1f} {count}")


def startup_seconds() -> dict[str, float]:
    """Wall seconds to start and print help, best of three: the console script, the library's
    module and `manage.py analyze` (the commands an analyst starts)."""
    console = "import sys; from analysis.console import main; sys.exit(main())"
    commands = {
        # What the `flowlogs` script runs, from this checkout.
        "flowlogs --help (console script)": [sys.executable, "-c", console, "--help"],
        "python -m analysis --help": [sys.executable, "-m", "analysis", "--help"],
        "manage.py analyze --help": [sys.executable, "manage.py", "analyze", "--help"],
    }
    best = {}
    for label, command in commands.items():
        times = []
        for _ in range(3):
            started = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            times.append(time.perf_counter() - started)
        best[label] = min(times)
    return best


def print_targets(lines: int, figures: dict[str, dict[str, float]], rss_mb: float | None) -> None:
    """Each target of issue #20 with its figure from this run, met or not."""

    def verdict(met: bool) -> str:
        return "met" if met else "NOT MET"

    print(f"\nTargets (issue #20), {lines:,} lines, this run:")
    for kind, f in figures.items():
        time_ratio, memory_ratio = f["core_s"] / f["peer_s"], f["core_mb"] / f["peer_mb"]
        print(
            f"  load + {len(CORE)} core <= 1.0x the peer, {kind}: time {time_ratio:.2f}x "
            f"({f['core_s']:.2f} s vs {f['peer_s']:.2f} s) {verdict(time_ratio <= 1.0)}; "
            f"memory {memory_ratio:.2f}x ({f['core_mb']:,.0f} vs {f['peer_mb']:,.0f} MB) "
            f"{verdict(memory_ratio <= 1.0)}"
        )
    for kind, f in figures.items():
        ratio = f["naive_s"] / f["all_s"]
        print(
            f"  load + all >= 15x the naive baseline, {kind}: {ratio:.1f}x "
            f"({f['all_s']:.2f} s vs {f['naive_s']:.2f} s) {verdict(ratio >= 15)}"
        )
    if "gzip" in figures:
        f = figures["gzip"]
        load_rate, all_rate = lines / f["load_s"], lines / f["all_s"]
        print(
            f"  gzip >= 1.5M lines/s: load into the cache entry {load_rate / 1e6:.2f}M lines/s "
            f"{verdict(load_rate >= 1.5e6)}; load + all {all_rate / 1e6:.2f}M lines/s "
            f"{verdict(all_rate >= 1.5e6)}"
        )
    if rss_mb is not None:
        print(f"  20M lines <= 1 GB peak RSS: {rss_mb:,.0f} MB {verdict(rss_mb <= 1024)}")
    else:
        print("  20M lines <= 1 GB peak RSS: not run (--rss-lines 20000000)")
    for kind, f in figures.items():
        if "cached_s" in f:
            print(
                f"  cached re-analysis <= 0.5 s, {kind}: {f['cached_s']:.2f} s "
                f"{verdict(f['cached_s'] <= 0.5)}"
            )
    for label, seconds in startup_seconds().items():
        print(f"  start <= 0.5 s, {label}: {seconds:.2f} s {verdict(seconds <= 0.5)}")
    print("  a run's fixed overhead and saving results <= 1 s: python -m bench.overhead")


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
    print(f"RESULT {peak_rss_mb():.1f}")


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
    parser.add_argument("--peer-only", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--ours-only", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of the peer and of ours each (in turns; the fastest counts)",
    )
    parser.add_argument(
        "--side-by-side-only",
        action="store_true",
        help="only the naive, peer and ours runs, each in its own process (no per-step detail)",
    )
    args = parser.parse_args()
    if args.naive_only is not None:
        naive_only(args.naive_only, args.gzip, args.lines)
        return
    if args.rss_only:
        rss_only(args.lines, args.memory_limit, args.rss_entry)
        return
    if args.peer_only is not None:
        peer_only(args.peer_only, args.lines)
        return
    if args.ours_only is not None:
        ours_only(args.ours_only, args.lines, args.memory_limit)
        return
    check_peer()
    figures = run(
        args.lines, args.memory_limit, args.exact, not args.side_by_side_only, args.repeat
    )
    rss_mb = None
    if args.rss_lines:
        peaks = []
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
            output = subprocess.run(
                [*command, "--rss-entry"] if entry else command,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            shown, _, peak = output.rpartition("RESULT")
            print(shown, end="", flush=True)
            peaks.append(float(peak))
        rss_mb = max(peaks)
    print_targets(args.lines, figures, rss_mb)


def check_peer() -> None:
    """The peer must answer what the engine answers, or the comparison means nothing: every
    group of the 8 core analyses over a small demo file, compared (bench.peer.same_answers)."""
    with tempfile.TemporaryDirectory(prefix="bench-peer-") as folder:
        path = Path(folder) / "flows.log"
        generate(path, lines=50_000, end=END)
        differences = peer.same_answers(str(path))
    assert not differences, f"the peer's answers differ from the engine's: {differences}"
    print(
        f"The peer computes the engine's answers (every group of the {len(CORE)} core analyses, "
        "50,000 demo lines)."
    )


if __name__ == "__main__":
    main()
