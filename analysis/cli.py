"""Command line of `python -m analysis` and `manage.py analyze`: load flow logs, print analyses.

The arguments are a contract other tools call:

    --log-file PATH [--log-file PATH ...] [--log-format FORMAT]
    --analysis NAME[,NAME...]|all [--instance-ip IP ...] [--vpc-cidr CIDR ...] [--port N]
    [--lookup-table CSV] [--cidr-table FILE ...] [--start-time T] [--end-time T]
    [--format table|json|csv]

Bad arguments (unknown analysis, bad IP, CIDR, time or reference file) exit with status 2.
The rest of the portal's run form is here too: `--target-cidr`, `--interface`, `--internal-cidr`,
`--rank-by`, `--sensitive-port`, `--known-hosts`, `--time-bin` and the `--graph-*` options;
detections take `--threshold NAME=VALUE` (any detection parameter) and `--indicator-list FILE`
(threat-intel lists), and `--list-detections` prints the detection catalogue.
`--lookup-table` and `--cidr-table` files are read with analysis.reference and handed to the
analyzers as AnalysisParams.lookup_table and AnalysisParams.cidr_tables (one table per file,
named after the file).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from analysis.formats import FlowFormat
from analysis.window import TimeWindow

if TYPE_CHECKING:
    from analysis.analyzers import AnalysisParams, AnalysisResult
    from analysis.loadstats import LoadStats

# The analyzers and the engine (DuckDB) are imported where they are used, so `--help` and
# argument errors answer at once.

FORMATS = ("table", "json", "csv")
DEFAULT_TOP = 100  # analysis.analyzers.params.DEFAULT_TOP_N (not imported: start-up stays light)
# Inputs smaller than this load in a blink: no progress bar for them.
PROGRESS_MIN_BYTES = 64 * 1024 * 1024


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The contract's options, shared by `python -m analysis` and `manage.py analyze`."""
    parser.add_argument(
        "--log-file",
        action="append",
        required=True,
        metavar="PATH",
        help="flow log file: text (plain or gzip) or Parquet; repeat for more files",
    )
    parser.add_argument(
        "--log-format",
        metavar="FORMAT",
        help="the LogFormat of files without a header line, e.g. '${version} ${srcaddr} ...'",
    )
    parser.add_argument(
        "--analysis",
        action="append",
        required=True,
        metavar="NAME[,NAME...]|all",
        help="analyses to run, comma-separated, or 'all' (every one the logs allow)",
    )
    parser.add_argument("--instance-ip", action="append", default=[], metavar="IP")
    parser.add_argument("--vpc-cidr", action="append", default=[], metavar="CIDR")
    parser.add_argument("--port", type=int, metavar="N")
    parser.add_argument("--lookup-table", metavar="CSV", help="dstport,protocol,tag rows")
    parser.add_argument(
        "--cidr-table",
        action="append",
        default=[],
        metavar="FILE",
        help="CIDR table (AWS ip-ranges JSON, geofeed, CSV); repeatable",
    )
    parser.add_argument(
        "--start-time",
        metavar="T",
        help="ISO 8601 (UTC if no zone), epoch s or ms, 'now', or 30m/1h/3d/2w/1M/1y ago",
    )
    parser.add_argument("--end-time", metavar="T", help="same forms as --start-time")
    parser.add_argument("--format", choices=FORMATS, default="table")
    parser.add_argument("--top", type=int, default=DEFAULT_TOP, metavar="K", help="rows shown")
    parser.add_argument("--memory-limit", metavar="SIZE", help="DuckDB memory limit, e.g. 1GB")
    # The rest of the portal's run form: more targets, ranking, reference data, graph options.
    parser.add_argument(
        "--target-cidr",
        action="append",
        default=[],
        metavar="CIDR",
        help="a target range (like --instance-ip); repeatable",
    )
    parser.add_argument(
        "--interface",
        action="append",
        default=[],
        metavar="ENI",
        help="a target network interface (eni-...); repeatable",
    )
    parser.add_argument(
        "--internal-cidr",
        action="append",
        default=[],
        metavar="CIDR",
        help="a range counted as internal besides --vpc-cidr; repeatable",
    )
    parser.add_argument(
        "--rank-by",
        choices=("flows", "bytes"),
        default="flows",
        help="what the top rows are ranked by",
    )
    parser.add_argument(
        "--sensitive-port",
        action="append",
        default=[],
        metavar="PORT[=LABEL]",
        help="replaces the default sensitive ports; repeatable, e.g. 22=ssh",
    )
    parser.add_argument("--known-hosts", metavar="CSV", help="ip,alias rows")
    parser.add_argument(
        "--time-bin",
        type=int,
        metavar="SECONDS",
        help="time-series bin width (default: from the data's span)",
    )
    parser.add_argument(
        "--graph-min-flows",
        type=int,
        default=1,
        metavar="N",
        help="graph edges with fewer flows are left out",
    )
    parser.add_argument(
        "--graph-top-k", type=int, default=200, metavar="K", help="graph edges kept, busiest first"
    )
    parser.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a detection parameter (see --list-detections); repeatable",
    )
    parser.add_argument(
        "--indicator-list",
        action="append",
        default=[],
        metavar="FILE",
        help="threat-intel indicators: CSV ip|cidr,label[,confidence,source], "
        "a plain list, a STIX 2.1 bundle or a MISP CSV export; repeatable",
    )
    parser.add_argument(
        "--list-detections",
        action=_ListDetections,
        help="print the detection catalogue (ids, types, ATT&CK, parameters) and exit",
    )
    parser.add_argument(
        "--graph-pseudonyms",
        action="store_true",
        help="name graph nodes by pseudonyms instead of addresses",
    )


class _ListDetections(argparse.Action):
    """Like --help: prints the detection catalogue and exits, whatever else is missing."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        try:
            print_detections(sys.stdout)
        except BrokenPipeError:  # the reader (head, less) stopped early
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - replaced stdout lives to exit
        parser.exit()


def print_detections(out: TextIO) -> None:
    """The detection catalogue as text: one block per detection."""
    from analysis.detections import catalogue

    for entry in catalogue():
        attack = ", ".join(f"{t['id']} {t['name']}" for t in entry["techniques"])  # type: ignore[attr-defined]
        tactics = ", ".join(f"{t['id']} {t['name']}" for t in entry["tactics"])  # type: ignore[attr-defined]
        out.write(f"{entry['id']}  {entry['type']}\n  {entry['title']}: {entry['description']}\n")
        out.write(f"  ATT&CK: {tactics}; {attack}\n")
        out.write(f"  Severity: {entry['severity_rises']}\n")
        for item in entry["parameters"]:  # type: ignore[attr-defined]
            out.write(f"  --threshold {item['name']}={item['default']:g}  {item['meaning']}\n")
        out.write("\n")


def _thresholds(values: Sequence[str]) -> dict[str, float] | None:
    """`name=value` items as a mapping (AnalysisParams checks names and values)."""
    if not values:
        return None
    thresholds: dict[str, float] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--threshold takes NAME=VALUE, got {item!r}")
        try:
            thresholds[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"--threshold {name.strip()}: not a number: {value!r}") from None
    return thresholds


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m analysis",
        description="Load VPC flow logs into DuckDB and print analyses.",
    )
    add_arguments(parser)
    return parser


def _analysis_names(values: Sequence[str]) -> list[str] | None:
    """Requested names in order without repeats; None for `all`."""
    from analysis.analyzers import get_analyzer

    names: list[str] = []
    for value in values:
        for name in value.split(","):
            name = name.strip()
            if name == "all":
                return None
            if name and name not in names:
                names.append(name)
    if not names:
        raise ValueError("--analysis needs at least one name, or 'all'")
    for name in names:
        get_analyzer(name)  # KeyError lists the known ones
    return names


def _params(args: argparse.Namespace) -> AnalysisParams:
    from analysis.analyzers import AnalysisParams
    from analysis.analyzers.params import parse_sensitive_ports
    from analysis.reference import (
        parse_cidr_table,
        parse_indicators,
        parse_known_hosts,
        parse_lookup_table,
    )

    lookup: list[tuple[int, int, str]] = []
    if args.lookup_table:
        lookup = [entry.as_param() for entry in parse_lookup_table(_read(args.lookup_table))]
    tables = [parse_cidr_table(_read(path)).as_param(Path(path).stem) for path in args.cidr_table]
    indicators = [
        item
        for path in args.indicator_list
        for item in parse_indicators(_read(path), name=Path(path).stem)
    ]
    return AnalysisParams(
        thresholds=_thresholds(args.threshold),  # type: ignore[arg-type]
        indicators=indicators,
        target_ips=list(args.instance_ip),
        vpc_cidrs=list(args.vpc_cidr),
        port=args.port,
        top_n=args.top,
        lookup_table=lookup,
        cidr_tables=tables,
        target_cidrs=list(args.target_cidr),
        target_interfaces=list(args.interface),
        extra_internal_cidrs=list(args.internal_cidr),
        rank_by=args.rank_by,
        known_hosts=parse_known_hosts(_read(args.known_hosts)) if args.known_hosts else {},
        time_bin_seconds=args.time_bin,
        graph_min_flows=args.graph_min_flows,
        graph_top_k=args.graph_top_k,
        graph_pseudonyms=args.graph_pseudonyms,
        sensitive_ports=parse_sensitive_ports(
            [port.replace("=", ":", 1) for port in args.sensitive_port] or None
        ),
    )


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror or error}") from None


class _Progress:
    """A one-line progress bar on a terminal's stderr; silent anywhere else."""

    def __init__(self, err: TextIO, enabled: bool) -> None:
        self.err = err
        self.enabled = enabled
        self.shown = False

    def __call__(self, message: str, done: float) -> None:
        if not self.enabled:
            return
        width = 30
        filled = int(width * max(0.0, min(done, 1.0)))
        bar = "#" * filled + "-" * (width - filled)
        self.err.write(f"\r[{bar}] {done * 100:3.0f}% {message[:40]:<40}")
        self.err.flush()
        self.shown = True

    def finish(self) -> None:
        if self.shown:
            self.err.write("\r" + " " * 80 + "\r")
            self.err.flush()


def run(
    args: argparse.Namespace,
    parser: argparse.ArgumentParser,
    out: TextIO,
    err: TextIO,
) -> int:
    """Do what parsed `args` ask; argument problems go to parser.error (exit status 2)."""
    from analysis.analyzers import all_analyzers, get_analyzer
    from analysis.engine import EngineStorageError, FlowEngine

    try:
        names = _analysis_names(args.analysis)
        params = _params(args)
        window = None
        if args.start_time or args.end_time:
            window = TimeWindow.build(args.start_time, args.end_time)
        flow_format = FlowFormat.parse(args.log_format) if args.log_format else None
    except KeyError as error:
        parser.error(str(error.args[0]))
    except ValueError as error:
        parser.error(str(error))
    missing = [path for path in args.log_file if not os.path.isfile(path)]
    if missing:
        parser.error(f"no such log file: {', '.join(missing)}")

    total_bytes = sum(os.path.getsize(path) for path in args.log_file)
    progress = _Progress(err, _isatty(err) and total_bytes >= PROGRESS_MIN_BYTES)
    with FlowEngine(memory_limit=args.memory_limit) as engine:
        try:
            stats = engine.load_files(
                list(args.log_file), flow_format=flow_format, window=window, progress=progress
            )
        except EngineStorageError as error:
            progress.finish()
            err.write(f"analyze: cannot load the flow logs: {error.strerror}\n")
            return 1
        progress.finish()
        columns = engine.columns()
        skipped: dict[str, str] = {}
        if names is None:
            names = []
            for analyzer in all_analyzers():
                reason = analyzer.is_applicable(params, columns)
                if reason is None:
                    names.append(analyzer.name)
                else:
                    skipped[analyzer.name] = reason
        else:
            for name in names:
                reason = get_analyzer(name).is_applicable(params, columns)
                if reason is not None:
                    parser.error(f"analysis {name!r} cannot run: {reason}")
        results = [engine.run(name, params) for name in names]

    if args.format == "json":
        _print_json(out, stats, results, skipped)
    elif args.format == "csv":
        _print_csv(out, results)
    else:
        _print_tables(out, stats, results, skipped)
    # Status 1 when no file could be read at all; bad lines alone are reported, not fatal.
    return 1 if stats.files and len(stats.failed_files) == len(stats.files) else 0


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def records_dict(stats: LoadStats) -> dict[str, Any]:
    """The `records` object of the JSON output: the load's counts, samples and files."""
    return stats.to_dict()


def _print_json(
    out: TextIO, stats: LoadStats, results: list[AnalysisResult], skipped: dict[str, str]
) -> None:
    document = {
        "records": records_dict(stats),
        "results": {result.name: result.to_dict() for result in results},
        "skipped": skipped,
    }
    out.write(json.dumps(document, indent=2) + "\n")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _print_csv(out: TextIO, results: list[AnalysisResult]) -> None:
    for index, result in enumerate(results):
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(result.columns)
        for row in result.rows:
            writer.writerow([_cell(row.get(column)) for column in result.columns])
        separator = "\n" if index else ""
        out.write(f"{separator}# {result.name}\n{buffer.getvalue()}")


def _print_tables(
    out: TextIO,
    stats: LoadStats,
    results: list[AnalysisResult],
    skipped: dict[str, str],
) -> None:
    lines = [
        f"records: {stats.total:,} lines: {stats.ok:,} ok, {stats.nodata:,} nodata, "
        f"{stats.skipdata:,} skipdata, {stats.malformed:,} malformed, "
        f"{stats.filtered_out:,} outside the time window"
    ]
    for sample in stats.malformed_samples[:5]:
        lines.append(f"  malformed {sample.file}:{sample.line}: {sample.reason}")
    for failed in stats.failed_files:
        lines.append(f"  could not read {failed.path}: {failed.error}")
    for note in stats.notes:
        lines.append(f"  note {note}")
    for name, reason in skipped.items():
        lines.append(f"  skipped {name}: {reason}")
    for result in results:
        lines.append("")
        lines.append(f"== {result.title} ({result.name})")
        shown = len(result.rows)
        if result.truncated:
            lines.append(f"{result.total_groups:,} groups, showing top {shown:,}")
        else:
            lines.append(f"{result.total_groups:,} groups")
        cells = [[_cell(row.get(column)) for column in result.columns] for row in result.rows]
        widths = [
            max([len(column)] + [len(row[index]) for row in cells])
            for index, column in enumerate(result.columns)
        ]
        lines.append("  ".join(col.ljust(w) for col, w in zip(result.columns, widths, strict=True)))
        lines.append("  ".join("-" * w for w in widths))
        for row in cells:
            lines.append("  ".join(value.ljust(w) for value, w in zip(row, widths, strict=True)))
    out.write("\n".join(line.rstrip() for line in lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return run(args, parser, sys.stdout, sys.stderr)
    except BrokenPipeError:
        # The reader (head, less) stopped early: not an error of ours.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - replaced stdout lives to exit
        return 0
