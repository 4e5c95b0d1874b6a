"""Command line: load flow log files and print an analysis (`python -m analysis --help`)."""

from __future__ import annotations

import argparse
import json
import sys

from analysis.analyzers import AnalysisParams, all_analyzers
from analysis.engine import FlowEngine
from analysis.formats import FlowFormat
from analysis.window import TimeWindow


def build_parser() -> argparse.ArgumentParser:
    names = [analyzer.name for analyzer in all_analyzers()]
    parser = argparse.ArgumentParser(prog="python -m analysis", description=__doc__)
    parser.add_argument("files", nargs="+", help="flow log files, plain or gzip")
    parser.add_argument(
        "--analysis",
        "-a",
        action="append",
        choices=names,
        help="analysis to run (repeatable; default: all)",
    )
    parser.add_argument("--target", action="append", default=[], help="target IP address")
    parser.add_argument("--cidr", action="append", default=[], help="target CIDR block")
    parser.add_argument("--vpc-cidr", action="append", default=[], help="internal CIDR block")
    parser.add_argument("--top", type=int, default=20, help="rows per analysis")
    parser.add_argument("--rank-by", choices=["flows", "bytes"], default="flows")
    parser.add_argument("--start", help="window start: ISO 8601, epoch, or 30m/1h/3d before now")
    parser.add_argument("--end", help="window end (same forms)")
    parser.add_argument("--log-format", help="AWS LogFormat string, e.g. '${version} ${srcaddr}'")
    parser.add_argument("--database", help="DuckDB file to keep the loaded flows in")
    parser.add_argument("--memory-limit", help="DuckDB memory limit, e.g. 2GB")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        params = AnalysisParams(
            target_ips=args.target,
            target_cidrs=args.cidr,
            vpc_cidrs=args.vpc_cidr,
            top_n=args.top,
            rank_by=args.rank_by,
        )
        window = TimeWindow.build(args.start, args.end) if args.start or args.end else None
        flow_format = FlowFormat.parse(args.log_format) if args.log_format else None
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    names = args.analysis or [analyzer.name for analyzer in all_analyzers()]
    with FlowEngine(args.database, memory_limit=args.memory_limit) as engine:
        stats = engine.load_files(args.files, flow_format=flow_format, window=window)
        results = [engine.run(name, params) for name in names]
    if args.json:
        print(
            json.dumps(
                {"load": stats.to_dict(), "results": [result.to_dict() for result in results]},
                indent=2,
            )
        )
        return 0
    print(
        f"lines {stats.total:,}: ok {stats.ok:,}, nodata {stats.nodata:,}, "
        f"skipdata {stats.skipdata:,}, malformed {stats.malformed:,}, "
        f"outside window {stats.filtered_out:,}"
    )
    for failed in stats.failed_files:
        print(f"could not read {failed.path}: {failed.error}")
    for result in results:
        shown = (
            f"top {len(result.rows)} of {result.total_groups}"
            if result.truncated
            else (f"{result.total_groups} groups")
        )
        print(f"\n{result.title} ({shown})")
        widths = {
            col: max([len(col)] + [len(str(row[col])) for row in result.rows])
            for col in result.columns
        }
        print("  ".join(col.ljust(widths[col]) for col in result.columns))
        for row in result.rows:
            print("  ".join(str(row[col]).ljust(widths[col]) for col in result.columns))
    return 0
