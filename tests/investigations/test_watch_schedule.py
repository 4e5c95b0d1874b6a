"""A watch on schedule, end to end: a real `celery beat` process ticks, a real worker claims the
due watch and runs it against the demo AWS world on moto; an SSH brute force planted in the
watched CloudWatch log group after the first run raises a `watch.alert`, delivered to a webhook
receiver, from the second run, whose window starts where the first one ended."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from django.db import connection
from django.utils import timezone

from investigations.watches import services
from investigations.watches.models import AlertKind, Watch, WatchAlert, WatchRun
from portal.webhooks import create_webhook
from tests.conftest import ROOT, _database_url, wait_for_run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

INTRUDER = "198.51.100.77"


def _wait(what: str, found: Callable[[], Any], *, timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"waited {timeout}s for {what}")


@pytest.fixture
def beat_process(celery_worker_process: Any, tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """`celery beat` with the project's schedule, its watch tick every second."""
    env = os.environ.copy()
    env.setdefault("DEBUG", "true")
    env.update(DATABASE_URL=_database_url(connection.settings_dict), WATCH_TICK_SECONDS="1")
    log = (tmp_path / "beat.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "beat",
            "--loglevel=INFO",
            "--schedule",
            str(tmp_path / "beat-schedule"),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield process
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture
def receiver() -> Iterator[list[dict[str, Any]]]:
    """A webhook receiver on loopback (the worker may reach 127.0.0.1 in tests)."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    received.append({"url": f"http://127.0.0.1:{server.server_port}/hook"})
    yield received
    server.shutdown()


def _plant_brute_force(moto_url: str, account: Any, watch: Watch) -> None:
    """40 short SSH attempts from a new address to the web instance, timed inside the watch's
    next window: after where the last one ended, before now."""
    from accounts.demo import DEMO_LOG_GROUP, DEMO_REGION
    from accounts.models import Instance

    web = Instance.objects.get(account=account, name="web")
    assert watch.last_window_end is not None
    first = int(watch.last_window_end.timestamp())
    _wait("a second to pass the window's end", lambda: time.time() >= first + 2)
    span = max(1, min(40, int(time.time()) - first - 1))
    lines = [
        f"2 {account.account_id} {web.interfaces[0]} {INTRUDER} {web.private_ips[0]} "
        f"{41000 + n} 22 6 12 720 {first + n * span // 40} {first + n * span // 40 + 1} "
        "REJECT OK"
        for n in range(40)
    ]
    logs = boto3.client(
        "logs",
        endpoint_url=moto_url,
        region_name=DEMO_REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    logs.put_log_events(
        logGroupName=DEMO_LOG_GROUP,
        logStreamName=f"{web.interfaces[0]}-all",
        logEvents=[
            {"timestamp": int(line.split(" ")[10]) * 1000, "message": line} for line in lines
        ],
    )


def test_beat_and_a_worker_run_a_watch_that_alerts_on_a_planted_incident(
    beat_process: Any,
    celery_worker_process: Any,
    moto_endpoint: str,
    receiver: list[dict[str, Any]],
    investigation: Any,
    analyst: Any,
    settings: Any,
) -> None:
    from accounts.demo import seed_demo_account

    settings.RUN_PART_SECONDS = 7 * 86400
    settings.DEBUG = True  # a plain-http receiver on loopback, as the worker's env allows
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    account = seed_demo_account(moto_endpoint, lines=2000)
    create_webhook(user=analyst, name="pager", url=receiver[0]["url"], events=["watch.alert"])
    watch = services.create_watch(
        user=analyst,
        investigation=investigation,
        account=account,
        instance="web",
        source="cloudwatch",
        analyses=["detections"],
        interval_minutes=60,
        lag_seconds=0,
    )

    first = _wait("beat to start the first run", lambda: WatchRun.objects.first()).run
    first = wait_for_run(first, timeout=180)
    assert first.status == "succeeded", first.error + celery_worker_process.log()[-3000:]
    watch.refresh_from_db()
    assert watch.last_window_end == first.window_end
    assert not WatchAlert.objects.filter(finding__identity__contains=INTRUDER).exists()

    _plant_brute_force(moto_endpoint, account, watch)
    Watch.objects.filter(pk=watch.pk).update(next_run_at=timezone.now())  # an hour passes

    second = _wait(
        "beat to start the second run",
        lambda: WatchRun.objects.filter(watch=watch).exclude(run=first).first(),
    ).run
    second = wait_for_run(second, timeout=180)
    assert second.status == "succeeded", second.error + celery_worker_process.log()[-3000:]
    assert second.window_start == first.window_end  # no gap, no overlap
    alert = WatchAlert.objects.get(run=second, finding__identity__contains=INTRUDER)
    assert alert.kind == AlertKind.NEW_FINDING and alert.finding is not None
    assert alert.finding.type.endswith("SSHBruteForce")
    assert WatchRun.objects.filter(watch=watch).count() == 2  # each due time ran once
    delivered = _wait(
        "the watch.alert webhook",
        lambda: [b for b in receiver[1:] if b["data"]["finding"] == alert.finding_id],
        timeout=60,
    )
    assert delivered[0]["type"] == "watch.alert"
    assert delivered[0]["data"]["kind"] == "new_finding"
    assert second.window_end is not None and second.window_end.tzinfo is not None
    assert second.window_end <= timezone.now().astimezone(UTC)
