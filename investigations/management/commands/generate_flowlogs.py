"""Write deterministic demo flow logs with planted incidents (`flowlogs generate`)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from analysis import console


class Command(BaseCommand):
    help = console.GENERATE_HELP
    # Writes a file and nothing else: no system checks, no database (runs without SECRET_KEY).
    requires_system_checks: list[str] = []  # type: ignore[assignment]
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        console.add_generate_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            console.run_generate(options, self.stdout)  # type: ignore[arg-type]
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
