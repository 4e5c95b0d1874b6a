"""`manage.py analyze`: the analysis command line (analysis.cli) under manage.py; no database."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from analysis import cli


class Command(BaseCommand):
    help = "Load VPC flow log files and print analyses (same arguments as python -m analysis)."
    # Runs on a laptop with nothing but the files: no system checks, no database, no broker.
    requires_system_checks: list[str] = []  # type: ignore[assignment]
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        self._parser = parser
        cli.add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        namespace = argparse.Namespace(**options)
        status = cli.run(namespace, self._parser, self.stdout, self.stderr)  # type: ignore[arg-type]
        if status:
            raise SystemExit(status)
