"""Give the demo's stand-in AWS (the moto server `make demo` starts) a new incident: an SSH
brute force on the web instance, inside the demo watch's next window, so a newcomer sees the
watch raise an alert."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from investigations.watches.demo import DEMO_WATCH_NAME, brute_force
from investigations.watches.models import Watch


class Command(BaseCommand):
    help = (
        "Plant a new SSH brute force in the demo AWS world (moto only) where the demo watch "
        "reads next; its next run raises a watch alert."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        from portal.devserver import MOTO_PORT

        parser.add_argument(
            "--endpoint-url",
            default=os.environ.get("AWS_ENDPOINT_URL") or f"http://127.0.0.1:{MOTO_PORT}",
            help="the demo's moto server (default: the one make demo starts)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from accounts.demo import plant_records
        from accounts.models import Instance

        endpoint = options["endpoint_url"]
        if urlsplit(endpoint).hostname not in ("127.0.0.1", "localhost", "::1"):
            raise CommandError("demo_incident writes only to a local moto server, never to AWS.")
        watch = Watch.objects.filter(name=DEMO_WATCH_NAME).select_related("account").first()
        if watch is None:
            raise CommandError("No demo watch: run make demo (or seed_demo_watch) first.")
        web = Instance.objects.filter(account=watch.account, name="web").first()
        if web is None or not web.interfaces or not web.private_ips:
            raise CommandError("The demo account has no web instance: refresh its discovery.")
        incident = brute_force(
            watch=watch,
            account_id=watch.account.account_id,
            interface=web.interfaces[0],
            target_ip=web.private_ips[0],
        )
        try:
            plant_records(endpoint, watch.account, incident.records)
        except Exception as exc:  # the moto server is down or is not the demo's
            raise CommandError(f"Could not write to the demo AWS at {endpoint}: {exc}") from exc
        if incident.hurried and not watch.paused:
            Watch.objects.filter(pk=watch.pk).update(next_run_at=timezone.now())
            when = "at its next tick (within a minute)"
        else:
            when = f"at its next run ({watch.next_run_at:%H:%M} UTC)"
        self.stdout.write(
            f"Planted {len(incident.records)} SSH attempts from {incident.intruder} on web at "
            f"{incident.start:%H:%M:%S} UTC. The demo watch reads them {when}: see "
            f"{watch.get_absolute_url()}"
        )
