"""The demo's watch and its incidents: one watch on the demo AWS account, and a command's way
to make the stand-in AWS (moto) gain a new SSH brute force inside the watch's next window."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from investigations.watches import services
from investigations.watches.models import Watch

DEMO_WATCH_NAME = "web · CloudWatch Logs (demo)"
DEMO_INTERVAL_MINUTES = 5
# moto delivers at once; real flow logs reach CloudWatch Logs minutes late (WATCH_LAG_SECONDS).
DEMO_LAG_SECONDS = 60
ATTEMPTS = 40


def ensure_demo_watch(*, user: Any, investigation: Any, account: Any) -> tuple[Watch, bool]:
    """The demo investigation's watch of the web instance (made once)."""
    existing = Watch.objects.filter(investigation=investigation, name=DEMO_WATCH_NAME).first()
    if existing is not None:
        return existing, False
    watch = services.create_watch(
        user=user,
        investigation=investigation,
        account=account,
        instance="web",  # by Name tag: the moto world's instance ids change with each start
        source="cloudwatch",
        analyses=["detections"],
        interval_minutes=DEMO_INTERVAL_MINUTES,
        k=3.0,
        name=DEMO_WATCH_NAME,
        lag_seconds=DEMO_LAG_SECONDS,
    )
    return watch, True


@dataclass(frozen=True)
class Incident:
    intruder: str
    start: datetime
    records: list[str]
    hurried: bool  # the watch was made due now: its next run reads the incident


def brute_force(
    *, watch: Watch, account_id: str, interface: str, target_ip: str, now: datetime | None = None
) -> Incident:
    """ATTEMPTS short SSH attempts from a new TEST-NET address, timed inside the watch's next
    window (after where its last one ended, before now - lag), so its next run reads them once."""
    now = now or timezone.now()
    ready = (now - timedelta(seconds=watch.lag_seconds)).replace(microsecond=0)
    start = ready - timedelta(seconds=ATTEMPTS + 10)
    if watch.last_window_end is not None and watch.last_window_end > start:
        start = watch.last_window_end
    intruder = f"198.51.100.{random.randint(2, 254)}"  # noqa: S311 - an address, not a secret
    first = int(start.timestamp())
    # One attempt a second, or faster when the window so far is shorter: then the watch can
    # read them all at once, now.
    room = int((ready - start).total_seconds())
    hurried = room >= 2
    step = min(ATTEMPTS, room - 1) if hurried else ATTEMPTS
    records = [
        f"2 {account_id} {interface} {intruder} {target_ip} {41000 + n} 22 6 12 720 "
        f"{first + n * step // ATTEMPTS} {first + n * step // ATTEMPTS + 1} REJECT OK"
        for n in range(ATTEMPTS)
    ]
    return Incident(intruder, start, records, hurried=hurried)
