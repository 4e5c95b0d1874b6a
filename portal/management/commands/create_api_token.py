"""Create an API token for an integration and print it once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from portal.api.tokens import create_token


class Command(BaseCommand):
    help = "Create a scoped API token; the secret is printed once and never stored."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument(
            "--scopes",
            required=True,
            help="Comma-separated, e.g. read:findings,read:investigations,write:runs",
        )
        parser.add_argument("--expires-days", type=int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            user = get_user_model().objects.get(username=options["user"])
        except get_user_model().DoesNotExist as exc:
            raise CommandError(f"No user named {options['user']!r}.") from exc
        scopes = [s.strip() for s in options["scopes"].split(",") if s.strip()]
        expires = None
        if options["expires_days"] is not None:
            if options["expires_days"] <= 0:
                raise CommandError("--expires-days must be positive.")
            expires = timezone.now() + timedelta(days=options["expires_days"])
        try:
            _token, key = create_token(
                user=user, name=options["name"], scopes=scopes, expires_at=expires, actor=None
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(key)
