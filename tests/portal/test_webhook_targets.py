"""Webhooks cannot reach internal addresses (SSRF): refused at creation and at every delivery,
before any connection; the checked address is the one connected to; redirects are not
followed; the delivery log says only coarse things. Listeners here are on 127.0.0.1 only."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from portal import outbound, webhooks
from portal.models import AuditEvent, Webhook, WebhookDelivery
from tests.conftest import client_for


class Listener:
    """A TCP listener on 127.0.0.1 that counts every connection it accepts."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self.accepted = 0
        self.stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.stopped.set()
        self.sock.close()


class HttpReceiver:
    """An HTTP server on 127.0.0.1 answering each POST with `status` (and `location`)."""

    def __init__(self, status: int = 204, location: str = "") -> None:
        self.requests: list[dict[str, str]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["content-length"]))
                owner.requests.append({k.lower(): v for k, v in self.headers.items()})
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.end_headers()

            def do_GET(self) -> None:
                owner.requests.append({"method": "GET"})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_port)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def plain_http(settings: Any) -> None:
    """The local receivers speak plain http, which only development mode (DEBUG) allows."""
    settings.DEBUG = True


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Names this test controls, resolved in place of DNS; each lookup is counted."""
    names: dict[str, list[str]] = {}
    lookups: list[str] = []
    real = outbound.resolve

    def resolve(host: str, port: int) -> list[str]:
        if host in names:
            lookups.append(host)
            return list(names[host])
        return real(host, port)

    monkeypatch.setattr(outbound, "resolve", resolve)
    names["__lookups__"] = lookups  # the test reads how often each name was resolved
    return names


def _delivery(hook: Webhook) -> WebhookDelivery:
    return WebhookDelivery.objects.create(
        webhook=hook,
        message_id=f"msg_{time.time_ns()}",
        event="run.finished",
        payload={"type": "run.finished", "data": {}},
    )


REFUSED = [
    "127.0.0.1",
    "127.9.9.9",
    "0.0.0.0",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "169.254.169.123",
    "100.64.0.1",
    "100.127.255.254",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.1",
    "198.18.0.1",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd00:ec2::254",
    "ff02::1",
    "fec0::1",
    "2001:db8::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",
    "::127.0.0.1",
    "::a9fe:a9fe",
    "64:ff9b::7f00:1",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b:1::a00:1",
    "2002:7f00:1::1",
    "2002:a9fe:a9fe::1",
]
PUBLIC = [
    "93.184.215.14",
    "8.8.8.8",
    "1.1.1.1",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
]


@pytest.mark.parametrize("address", REFUSED)
def test_internal_addresses_are_refused(address: str) -> None:
    assert not outbound.address_allowed(ipaddress.ip_address(address), [])


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert outbound.address_allowed(ipaddress.ip_address(address), [])


def test_the_admin_allow_list_opens_only_its_ranges() -> None:
    nets = [ipaddress.ip_network("10.20.0.0/16")]
    assert outbound.address_allowed(ipaddress.ip_address("10.20.1.5"), nets)
    assert outbound.address_allowed(ipaddress.ip_address("::ffff:10.20.1.5"), nets)
    assert not outbound.address_allowed(ipaddress.ip_address("10.21.0.1"), nets)
    assert not outbound.address_allowed(ipaddress.ip_address("169.254.169.254"), nets)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:{port}/hook",
        "https://localhost:{port}/",
        "https://[::1]:{port}/",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.5/",
        "https://100.64.1.1/",
        "https://[::ffff:7f00:1]:{port}/",
        "https://[64:ff9b::a9fe:a9fe]/",
        "https://internal.corp.test:{port}/",
        "https://mixed.corp.test/",
        "https://0.0.0.0:{port}/",
    ],
)
def test_creating_a_webhook_to_an_internal_host_is_refused(
    url: str,
    analyst: Any,
    listener: Listener,
    dns: dict[str, list[str]],
) -> None:
    dns["internal.corp.test"] = ["127.0.0.1"]
    dns["mixed.corp.test"] = ["93.184.215.14", "10.0.0.7"]  # one bad address is enough
    response = client_for(analyst).post(
        "/api/v1/webhooks/",
        {"name": "scan", "url": url.format(port=listener.port), "events": ["run.finished"]},
        content_type="application/json",
    )
    assert response.status_code == 400, response.content
    assert "internal address" in response.json()["detail"]
    assert not Webhook.objects.exists()
    assert not AuditEvent.objects.filter(action="webhook.created").exists()
    assert listener.accepted == 0


@pytest.mark.parametrize(
    "url", ["https://2130706433/", "https://0x7f.1/", "https://017700000001/", "https://127.1/"]
)
def test_numeric_spellings_of_loopback_are_refused(url: str) -> None:
    """The API's URL field already rejects these; the check itself must too."""
    with pytest.raises(outbound.TargetRefused, match="internal address"):
        outbound.check_url(url)


@pytest.mark.django_db
def test_the_integrations_page_refuses_internal_hosts_too(analyst: Any) -> None:
    response = client_for(analyst).post(
        "/integrations/",
        {
            "hook-name": "meta",
            "hook-url": "https://169.254.169.254/latest/",
            "hook-events": ["run.finished"],
        },
    )
    assert response.status_code == 400
    assert "internal address" in response.content.decode()
    assert not Webhook.objects.exists()


@pytest.mark.django_db
def test_https_is_required_outside_debug(analyst: Any, settings: Any) -> None:
    settings.DEBUG = False
    client = client_for(analyst)
    body = {"name": "siem", "events": ["run.finished"]}
    plain = client.post(
        "/api/v1/webhooks/",
        {**body, "url": "http://siem.example.com/h"},
        content_type="application/json",
    )
    assert plain.status_code == 400
    assert "https://" in plain.json()["detail"]
    secure = client.post(
        "/api/v1/webhooks/",
        {**body, "url": "https://siem.example.com/h"},
        content_type="application/json",
    )
    assert secure.status_code == 201


@pytest.mark.django_db
def test_a_host_that_resolves_to_loopback_at_delivery_receives_nothing(
    analyst: Any,
    listener: Listener,
    dns: dict[str, list[str]],
    plain_http: None,
) -> None:
    """DNS rebinding: public when the webhook is made, 127.0.0.1 when it is delivered."""
    dns["rebind.corp.test"] = ["93.184.215.14"]
    hook, _secret = webhooks.create_webhook(
        user=analyst,
        name="rebind",
        url=f"http://rebind.corp.test:{listener.port}/h",
        events=["run.finished"],
    )
    dns["rebind.corp.test"] = ["127.0.0.1"]
    delivery = _delivery(hook)
    assert webhooks.attempt_delivery(delivery) is False
    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_error) == ("failed", "Not sent: address not allowed")
    assert delivery.last_status_code is None
    time.sleep(0.3)
    assert listener.accepted == 0


@pytest.mark.django_db
def test_a_stored_loopback_webhook_is_never_contacted(
    analyst: Any,
    listener: Listener,
    plain_http: None,
) -> None:
    """A webhook made before these checks (or written straight to the database) is checked
    again when delivered."""
    for url in (
        f"http://127.0.0.1:{listener.port}/",
        f"http://localhost:{listener.port}/",
        f"http://[::ffff:127.0.0.1]:{listener.port}/",
    ):
        hook = Webhook.objects.create(
            user=analyst, name=url, url=url, secret="x", events=["run.finished"]
        )
        # The secret is unsealed first: give it a real one so only the target check stops it.
        hook.secret = webhooks.seal(webhooks.new_secret())
        hook.save()
        delivery = _delivery(hook)
        assert webhooks.attempt_delivery(delivery) is False
        assert delivery.last_error == "Not sent: address not allowed"
    time.sleep(0.3)
    assert listener.accepted == 0


@pytest.mark.django_db
def test_delivery_connects_to_the_checked_address_with_the_name_as_host(
    analyst: Any,
    settings: Any,
    dns: dict[str, list[str]],
    plain_http: None,
) -> None:
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    receiver = HttpReceiver(204)
    try:
        dns["siem.corp.test"] = ["127.0.0.1"]
        hook, _ = webhooks.create_webhook(
            user=analyst,
            name="siem",
            url=f"http://siem.corp.test:{receiver.port}/in?x=1",
            events=["run.finished"],
        )
        lookups = dns["__lookups__"]
        lookups.clear()
        delivery = _delivery(hook)
        assert webhooks.attempt_delivery(delivery) is True
        assert lookups == ["siem.corp.test"]  # resolved once, for the check, then connected
        assert receiver.requests[0]["host"] == f"siem.corp.test:{receiver.port}"
        assert (delivery.status, delivery.last_status_code) == ("succeeded", 204)
    finally:
        receiver.close()


@pytest.mark.django_db
def test_redirects_are_not_followed(analyst: Any, settings: Any, plain_http: None) -> None:
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    target = HttpReceiver(200)
    redirector = HttpReceiver(302, location=f"http://127.0.0.1:{target.port}/internal")
    try:
        hook, _ = webhooks.create_webhook(
            user=analyst,
            name="r",
            url=f"http://127.0.0.1:{redirector.port}/",
            events=["run.finished"],
        )
        delivery = _delivery(hook)
        assert webhooks.attempt_delivery(delivery) is False
        assert delivery.last_status_code == 302
        assert delivery.last_error == "HTTP 302 (redirects are not followed)"
        assert len(redirector.requests) == 1
        assert target.requests == []
    finally:
        target.close()
        redirector.close()


@pytest.mark.django_db
def test_the_delivery_log_gives_coarse_errors_only(
    analyst: Any,
    settings: Any,
    listener: Listener,
    monkeypatch: pytest.MonkeyPatch,
    plain_http: None,
) -> None:
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = int(probe.getsockname()[1])
    closed, _ = webhooks.create_webhook(
        user=analyst, name="closed", url=f"http://127.0.0.1:{closed_port}/", events=["run.finished"]
    )
    delivery = _delivery(closed)
    assert webhooks.attempt_delivery(delivery) is False
    assert (delivery.last_error, delivery.last_status_code) == ("connection failed", None)

    silent = socket.socket()  # accepts (the kernel's backlog) but never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)
    try:
        monkeypatch.setattr(webhooks, "DELIVERY_TIMEOUT_SECONDS", 0.5)
        hung, _ = webhooks.create_webhook(
            user=analyst,
            name="hung",
            url=f"http://127.0.0.1:{silent.getsockname()[1]}/",
            events=["run.finished"],
        )
        delivery = _delivery(hung)
        assert webhooks.attempt_delivery(delivery) is False
        assert delivery.last_error == "timeout"
    finally:
        silent.close()

    failing = HttpReceiver(500)
    try:
        hook, _ = webhooks.create_webhook(
            user=analyst,
            name="500",
            url=f"http://127.0.0.1:{failing.port}/",
            events=["run.finished"],
        )
        delivery = _delivery(hook)
        assert webhooks.attempt_delivery(delivery) is False
        assert (delivery.last_error, delivery.last_status_code) == ("HTTP 500", 500)
    finally:
        failing.close()


@pytest.mark.django_db
def test_a_plain_http_webhook_is_not_sent_outside_development(
    analyst: Any,
    settings: Any,
    listener: Listener,
) -> None:
    settings.DEBUG, settings.WEBHOOK_ALLOWED_NETWORKS = False, ["127.0.0.1/32"]
    hook = Webhook.objects.create(
        user=analyst,
        name="old",
        url=f"http://127.0.0.1:{listener.port}/",
        secret=webhooks.seal(webhooks.new_secret()),
        events=["run.finished"],
    )
    delivery = _delivery(hook)
    assert webhooks.attempt_delivery(delivery) is False
    assert (delivery.status, delivery.last_error) == ("failed", "Not sent: https required")
    time.sleep(0.3)
    assert listener.accepted == 0


@pytest.mark.django_db
def test_audit_events_keep_only_scheme_and_host(analyst: Any) -> None:
    hook, _ = webhooks.create_webhook(
        user=analyst,
        name="siem",
        url="https://siem.example.com:8443/hook/s3cr3t-path?token=abc",
        events=["run.finished"],
    )
    webhooks.delete_webhook(user=analyst, webhook=hook)
    for action in ("webhook.created", "webhook.deleted"):
        event = AuditEvent.objects.get(action=action)
        assert event.details["url"] == "https://siem.example.com:8443"
        assert "s3cr3t" not in str(event.details) and "abc" not in str(event.details)
