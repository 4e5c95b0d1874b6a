"""Refresh discovery of one AWS account (by id or name) from the command line."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import AwsAccount
from accounts.services import refresh_discovery


class Command(BaseCommand):
    help = "Read instances, VPCs and flow logs of an AWS account into the portal's cache."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("account", help="the account's portal id, name or 12-digit id")
        parser.add_argument(
            "--region",
            action="append",
            dest="regions",
            help="only this region (repeatable); default: all of the account's",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        key = options["account"]
        accounts = AwsAccount.objects.filter(name=key) | AwsAccount.objects.filter(account_id=key)
        if key.isdigit() and len(key) != 12:
            accounts = AwsAccount.objects.filter(pk=int(key))
        found = list(accounts.distinct())
        if len(found) != 1:
            raise CommandError(f"{len(found)} AWS accounts match {key!r}; give the portal id.")
        account = found[0]
        unknown = set(options["regions"] or []) - set(account.regions)
        if unknown:
            raise CommandError(f"{account} is not set up for {', '.join(sorted(unknown))}.")
        result = refresh_discovery(user=None, account=account, regions=options["regions"])
        self.stdout.write(result.summary())
        if not result.ok:
            raise CommandError("Discovery failed for some regions; their cached rows were kept.")
