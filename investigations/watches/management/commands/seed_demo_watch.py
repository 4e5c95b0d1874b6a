"""The demo investigation's watch on the demo AWS account (after `seed_demo` and
`seed_demo_aws`; `make demo` runs all three)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from investigations.models import Investigation
from investigations.watches.demo import ensure_demo_watch


class Command(BaseCommand):
    help = "Create the demo watch: the web instance's CloudWatch flow log, every 5 minutes."

    def handle(self, *args: Any, **options: Any) -> None:
        from accounts.demo import DEMO_ACCOUNT_NAME
        from accounts.models import AwsAccount
        from investigations.management.commands.seed_demo import DEMO_TITLE

        investigation = Investigation.objects.filter(title=DEMO_TITLE).first()
        account = AwsAccount.objects.filter(name=DEMO_ACCOUNT_NAME).first()
        analyst = get_user_model().objects.filter(username="analyst").first()
        if investigation is None or account is None or analyst is None:
            raise CommandError("Run seed_demo and seed_demo_aws first (make demo does).")
        watch, created = ensure_demo_watch(
            user=analyst, investigation=investigation, account=account
        )
        state = "created" if created else "already present"
        self.stdout.write(f"Demo watch #{watch.pk} ({watch.name}) {state}.")
