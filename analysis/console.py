"""`flowlogs`: the analysis library's own command line. No Django, no settings, no database.

    flowlogs analyze --log-file PATH [...]   the arguments of `python -m analysis` (analysis.cli)
    flowlogs generate OUT [--lines N] [--seed S] [--hours H] [--end T] [--manifest]

`manage.py analyze` and `manage.py generate_flowlogs` are the same commands under manage.py:
they share the options and the code below. Only the module a subcommand needs is imported, so
`flowlogs analyze --help` answers without loading DuckDB.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, TextIO

from analysis import cli

PROG = "flowlogs"


def add_generate_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `flowlogs generate` and `manage.py generate_flowlogs`."""
    parser.add_argument("out", help="file to write (.gz is written gzip-compressed)")
    parser.add_argument("--lines", type=int, default=20_000, help="records to write")
    parser.add_argument("--seed", type=int, default=7, help="same seed, same bytes")
    parser.add_argument("--hours", type=int, default=6, help="hours the records span")
    parser.add_argument(
        "--end", default="now", help="when the records end (ISO 8601, epoch, or now)"
    )
    parser.add_argument(
        "--manifest", action="store_true", help="print the planted incidents as JSON"
    )


def run_generate(options: dict[str, Any], out: TextIO) -> None:
    """Write the demo flow logs `options` ask for; a bad value raises ValueError."""
    from analysis.demo import generate
    from analysis.window import parse_time

    end = parse_time(options["end"])
    path = str(options["out"])
    manifest = generate(
        path,
        lines=options["lines"],
        seed=options["seed"],
        hours=options["hours"],
        end=end,
        gzip=path.endswith(".gz"),
    )
    if options["manifest"]:
        out.write(json.dumps(manifest.to_dict(), indent=2, default=str) + "\n")
    else:
        kinds = ", ".join(incident.kind for incident in manifest.incidents)
        out.write(f"Wrote {manifest.lines:,} lines to {path} ({kinds}).\n")


GENERATE_HELP = (
    "Generate VPC flow logs (default v2 format) with an SSH brute force, a port scan, a large "
    "outbound transfer, RDP/database probes and internal fan-out among normal traffic. The "
    "same seed and end time always give the same bytes."
)


def build_parser(
    prog: str = PROG, names: dict[str, str] | None = None
) -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The parser; `names` renames subcommands in usage lines (manage.py's `generate_flowlogs`)."""
    names = {"analyze": "analyze", "generate": "generate", **(names or {})}
    parser = argparse.ArgumentParser(
        prog=prog, description="VPC flow log analysis on the command line (no server needed)."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    analyze = commands.add_parser(
        "analyze",
        prog=f"{prog} {names['analyze']}",
        help="load flow log files into DuckDB and print analyses",
        description="Load VPC flow logs into DuckDB and print analyses.",
    )
    cli.add_arguments(analyze)
    generate = commands.add_parser(
        "generate",
        prog=f"{prog} {names['generate']}",
        help="write demo flow logs with planted incidents",
        description=GENERATE_HELP,
    )
    add_generate_arguments(generate)
    return parser, {"analyze": analyze, "generate": generate}


def main(
    argv: list[str] | None = None, *, prog: str = PROG, names: dict[str, str] | None = None
) -> int:
    parser, subparsers = build_parser(prog, names)
    args = parser.parse_args(argv)
    try:
        if args.command == "generate":
            try:
                run_generate(vars(args), sys.stdout)
            except ValueError as error:
                subparsers["generate"].error(str(error))
            return 0
        return cli.run(args, subparsers["analyze"], sys.stdout, sys.stderr)
    except BrokenPipeError:
        # The reader (head, less) stopped early: not an error of ours.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - replaced stdout lives to exit
        return 0


if __name__ == "__main__":
    sys.exit(main())
