"""Demo users, a demo investigation and a finished run over generated flow logs (idempotent)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser

from analysis.demo import generate
from investigations.models import Investigation
from investigations.runs.submit import submit_run
from investigations.services import create_investigation
from investigations.tasks import execute_run
from portal.devserver import DEMO_LOGINS
from portal.roles import role_group

DEMO_TITLE = "Demo: suspicious activity around the web tier"


class Command(BaseCommand):
    help = "Create demo users and an investigation with a finished run over generated flow logs."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--lines", type=int, default=20_000)
        parser.add_argument(
            "--allow-insecure-demo-users",
            action="store_true",
            help="Create the demo users (published passwords) even with DEBUG off.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["allow_insecure_demo_users"]:
            raise CommandError(
                "seed_demo creates users whose passwords are published in the README; it runs "
                "only with DEBUG on, or with --allow-insecure-demo-users on a throwaway install."
            )
        users = {}
        for username, password, _ in DEMO_LOGINS:
            user, created = get_user_model().objects.get_or_create(username=username)
            if created:
                user.set_password(password)
                user.is_staff = username == "admin"
                user.save()
                user.groups.set([role_group(username)])
            users[username] = user
        if Investigation.objects.filter(title=DEMO_TITLE).exists():
            self.stdout.write("Demo data already present.")
            return
        folder = Path(settings.DATA_DIR) / "demo"
        folder.mkdir(parents=True, exist_ok=True)
        log_path = folder / "demo-flowlogs.log.gz"
        # Records end at the top of the current hour, so the demo data looks recent.
        end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        manifest = generate(str(log_path), lines=options["lines"], seed=7, end=end, gzip=True)
        analyst = users["analyst"]
        investigation = create_investigation(
            user=analyst,
            title=DEMO_TITLE,
            description=(
                "Generated flow logs with planted incidents: an SSH brute force, a port scan, "
                "a large outbound transfer, RDP and database probes, and internal fan-out."
            ),
            tags=["demo", "web tier", "ssh"],
            assignee=analyst,
        )
        with log_path.open("rb") as handle:
            run = submit_run(
                user=analyst,
                investigation=investigation,
                analyses=["all"],
                parameters={"vpc_cidrs": list(getattr(manifest, "vpc_cidrs", []))},
                files=[File(handle, name=log_path.name)],
                window_start=end - timedelta(days=2),
                window_end=end,
            )
        # Run it here so the demo opens on a finished run; the queued message becomes a no-op.
        execute_run(run.pk)
        run.refresh_from_db()
        self.stdout.write(f"Demo investigation #{investigation.pk}, run #{run.pk}: {run.status}.")
