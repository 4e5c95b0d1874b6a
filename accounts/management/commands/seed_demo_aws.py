"""Build the demo AWS world on a running moto server and register it as an AWS account."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from accounts.demo import seed_demo_account


class Command(BaseCommand):
    help = (
        "Create the demo VPC, instances and flow logs (CloudWatch Logs and S3) on a moto "
        "server, register the AWS account and discover it. Never point this at real AWS."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--endpoint-url", required=True, help="the moto server, e.g. http://127.0.0.1:5000"
        )
        parser.add_argument(
            "--lines", type=int, default=5000, help="flow records to generate (at least 2000)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        account = seed_demo_account(options["endpoint_url"], lines=options["lines"])
        counts = ", ".join(
            f"{d.region}: {d.instance_count} instances, {d.vpc_count} VPCs, "
            f"{d.flow_log_count} flow logs"
            for d in account.discoveries.all()
        )
        self.stdout.write(f"AWS account #{account.pk} {account}: {counts}.")
        self.stdout.write(
            "Run the portal with AWS_ENDPOINT_URL set to the same server for "
            "Test connection and Refresh discovery to reach it."
        )
