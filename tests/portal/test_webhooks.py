"""Webhooks: Standard Webhooks signatures checked by an independent verifier, delivery by a real
worker to a local receiver, retries with a delivery log, and per-user isolation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from portal.models import WebhookDelivery
from portal.webhooks import sign
from tests.conftest import client_for, wait_for_run
from tests.flowlogs import sample_upload


def verify(secret: str, headers: dict[str, str], body: bytes, *, tolerance: int = 300) -> bool:
    """The receiver's side of the Standard Webhooks spec, written from the spec, not our code."""
    key = base64.b64decode(secret.split("_", 1)[1])
    msg_id, stamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(stamp)) > tolerance:
        return False
    expected = base64.b64encode(
        hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    ).decode()
    offered = [
        part.split(",", 1)[1]
        for part in headers["webhook-signature"].split(" ")
        if part.startswith("v1,")
    ]
    return any(hmac.compare_digest(expected, sig) for sig in offered)


class Receiver:
    """A local HTTP endpoint recording what it is sent; answers with the queued status codes."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.statuses = list(statuses or [])
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(self.received) >= count, f"received {len(self.received)} of {count}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.server.shutdown()


def test_signatures_follow_the_standard_webhooks_scheme() -> None:
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    stamp = int(time.time())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(secret, "msg_1", stamp, b'{"a":1}'),
    }
    assert verify(secret, headers, b'{"a":1}')
    assert not verify(secret, headers, b'{"a":2}')
    other = "whsec_" + base64.b64encode(b"x" * 32).decode()
    assert not verify(other, headers, b'{"a":1}')


@pytest.mark.django_db
def test_webhooks_are_private_to_their_owner(analyst: Any, teammate: Any) -> None:
    created = client_for(analyst).post(
        "/api/v1/webhooks/",
        {"name": "soar", "url": "https://soar.example/hook", "events": ["run.finished"]},
        content_type="application/json",
    )
    assert created.status_code == 201
    assert created.json()["secret"].startswith("whsec_")
    assert client_for(teammate).get("/api/v1/webhooks/").json()["count"] == 0
    hook_id = created.json()["id"]
    assert client_for(teammate).delete(f"/api/v1/webhooks/{hook_id}/").status_code == 404
    listed = client_for(analyst).get(f"/api/v1/webhooks/{hook_id}/").json()
    assert "secret" not in listed
    bad = client_for(analyst).post(
        "/api/v1/webhooks/",
        {"name": "x", "url": "ftp://x", "events": ["run.finished"]},
        content_type="application/json",
    )
    assert bad.status_code == 400


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_a_finished_run_is_pushed_signed_and_retried(
    celery_worker_process: Any,
    receiver: Receiver,
    analyst: Any,
    investigation: Any,
    settings: Any,
) -> None:
    # The receiver listens on loopback: allowed here as an admin allows an internal range (the
    # test worker is started with the same setting).
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.DEBUG = True  # a plain-http receiver, as in development
    receiver.statuses = [500]  # the first attempt fails; the retry must get through
    client = client_for(analyst)
    hook = client.post(
        "/api/v1/webhooks/",
        {"name": "siem", "url": receiver.url, "events": ["run.finished"]},
        content_type="application/json",
    ).json()
    response = client.post(
        "/api/v1/runs/",
        {
            "investigation": investigation.pk,
            "analyses": "traffic-summary",
            "files": sample_upload(),
        },
    )
    from investigations.models import QueryRun

    run = wait_for_run(QueryRun.objects.get(pk=response.json()["id"]))
    assert run.status == "succeeded"
    receiver.wait_for(2)
    for headers, body in receiver.received:
        assert verify(hook["secret"], headers, body)
    first, second = (json.loads(body) for _, body in receiver.received[:2])
    assert first == second  # the same message, retried
    assert receiver.received[0][0]["webhook-id"] == receiver.received[1][0]["webhook-id"]
    assert second["type"] == "run.finished"
    assert second["data"]["run"] == run.pk and second["data"]["status"] == "succeeded"
    assert second["data"]["records"]["ok"] == 7
    deadline = time.monotonic() + 10
    delivery = WebhookDelivery.objects.get()
    while delivery.status == "pending" and time.monotonic() < deadline:
        time.sleep(0.1)
        delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 2, 204)
    log = client.get(f"/api/v1/webhooks/{hook['id']}/deliveries/").json()
    assert log["results"][0]["status"] == "succeeded"
    assert log["results"][0]["last_attempt_at"] and log["results"][0]["next_attempt_at"] is None
