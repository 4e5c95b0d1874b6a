"""Write deterministic demo flow logs with planted incidents (a thin shell over analysis.demo)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from analysis.demo import generate
from analysis.window import parse_time


class Command(BaseCommand):
    help = ("Generate VPC flow logs (default v2 format) with an SSH brute force, a port scan, a "
            "large outbound transfer, RDP/database probes and internal fan-out among normal "
            "traffic. The same seed and end time always give the same bytes.")
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("out", help="file to write (.gz is written gzip-compressed)")
        parser.add_argument("--lines", type=int, default=20_000)
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--hours", type=int, default=6)
        parser.add_argument("--end", default="now",
                            help="when the records end (ISO 8601, epoch, or now)")
        parser.add_argument("--manifest", action="store_true",
                            help="print the planted incidents as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            end = parse_time(options["end"])
            manifest = generate(options["out"], lines=options["lines"], seed=options["seed"],
                                hours=options["hours"], end=end,
                                gzip=options["out"].endswith(".gz"))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if options["manifest"]:
            self.stdout.write(json.dumps(manifest.to_dict(), indent=2, default=str))
        else:
            kinds = ", ".join(i.kind for i in manifest.incidents)
            self.stdout.write(f"Wrote {manifest.lines:,} lines to {options['out']} ({kinds}).")
