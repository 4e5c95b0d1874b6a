"""Behind proxies: which address is the client's (lockout and audit), when X-Forwarded-Proto is
believed; lockout of one username across many addresses; /healthz public and detailed; API
errors as JSON; the demo seeder refuses production."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.urls import reverse

from portal import health
from portal.clientaddr import client_address
from portal.middleware import TrustedProxyMiddleware
from tests.conftest import client_for
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def _request(peer: str, forwarded: str = "", proto: str = "") -> HttpRequest:
    meta: dict[str, Any] = {"REMOTE_ADDR": peer}
    if forwarded:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    if proto:
        meta["HTTP_X_FORWARDED_PROTO"] = proto
    return RequestFactory().get("/", **meta)


def test_without_trusted_proxies_the_peer_is_the_client(settings: Any) -> None:
    settings.TRUSTED_PROXIES = 0
    assert client_address(_request("203.0.113.9", "198.51.100.1")) == "203.0.113.9"


def test_with_a_proxy_count_the_client_is_what_the_proxies_saw(settings: Any) -> None:
    settings.TRUSTED_PROXIES = 1
    # The client wrote "1.2.3.4" itself; the proxy appended the address it saw.
    assert client_address(_request("10.0.0.2", "1.2.3.4, 198.51.100.7")) == "198.51.100.7"
    settings.TRUSTED_PROXIES = 2
    assert client_address(_request("10.0.0.2", "1.2.3.4, 198.51.100.7, 10.0.0.3")) == "198.51.100.7"
    # Fewer hops than proxies, or garbage: the peer.
    assert client_address(_request("10.0.0.2", "198.51.100.7")) == "10.0.0.2"
    settings.TRUSTED_PROXIES = 1
    assert client_address(_request("10.0.0.2", "not-an-address")) == "10.0.0.2"


def test_with_proxy_networks_only_those_peers_are_believed(settings: Any) -> None:
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]
    assert client_address(_request("10.0.0.2", "1.2.3.4, 198.51.100.7, 10.0.0.5")) == "198.51.100.7"
    # A peer outside the proxies' networks cannot choose its address.
    assert client_address(_request("203.0.113.9", "198.51.100.7")) == "203.0.113.9"


@pytest.mark.parametrize(
    ("trusted", "peer", "secure"),
    [
        (0, "203.0.113.9", False),
        (["10.0.0.0/24"], "203.0.113.9", False),
        (["10.0.0.0/24"], "10.0.0.2", True),
        (1, "10.0.0.2", True),
    ],
)
def test_x_forwarded_proto_is_believed_only_from_a_trusted_proxy(
    trusted: Any,
    peer: str,
    secure: bool,
    settings: Any,
) -> None:
    settings.TRUSTED_PROXIES = trusted
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    seen: list[bool] = []

    def view(request: HttpRequest) -> HttpResponse:
        seen.append(request.is_secure())
        return HttpResponse()

    TrustedProxyMiddleware(view)(_request(peer, "198.51.100.7", proto="https"))
    assert seen == [secure]


def _login(client: Client, password: str, *, peer: str, forwarded: str = "") -> Any:
    extra: dict[str, Any] = {"REMOTE_ADDR": peer}
    if forwarded:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client.post(reverse("login"), {"username": "alice", "password": password}, **extra)


def test_a_client_cannot_dodge_lockout_with_a_forged_forwarded_for(
    analyst: Any,
    settings: Any,
) -> None:
    settings.TRUSTED_PROXIES, settings.AXES_FAILURE_LIMIT = 0, 3
    client = Client()
    for n in range(3):
        _login(client, "wrong", peer="203.0.113.9", forwarded=f"198.51.100.{n}")
    assert (
        _login(client, PASSWORD, peer="203.0.113.9", forwarded="198.51.100.99").status_code == 429
    )


def test_behind_a_proxy_lockout_is_per_client_not_per_proxy(analyst: Any, settings: Any) -> None:
    settings.TRUSTED_PROXIES, settings.AXES_FAILURE_LIMIT = 1, 3
    for _ in range(3):
        _login(Client(), "wrong", peer="10.0.0.2", forwarded="198.51.100.7")
    assert _login(Client(), PASSWORD, peer="10.0.0.2", forwarded="198.51.100.7").status_code == 429
    # Another client behind the same proxy still signs in.
    assert _login(Client(), PASSWORD, peer="10.0.0.2", forwarded="198.51.100.8").status_code == 302


def test_one_username_is_locked_after_failures_from_many_addresses(
    analyst: Any,
    settings: Any,
) -> None:
    settings.AXES_FAILURE_LIMIT, settings.LOGIN_USERNAME_FAILURE_LIMIT = 3, 6
    for n in range(5):  # one failure from each of five addresses: under both limits
        assert _login(Client(), "wrong", peer=f"198.51.100.{n}").status_code == 200
    assert _login(Client(), PASSWORD, peer="198.51.100.50").status_code == 302
    for n in range(6):  # the username's limit is reached across addresses
        _login(Client(), "wrong", peer=f"198.51.100.{10 + n}")
    locked = _login(Client(), PASSWORD, peer="198.51.100.60")
    assert locked.status_code == 429
    assert b"Too many failed logins" in locked.content


def test_health_says_only_ok_or_fail_in_public(
    monkeypatch: pytest.MonkeyPatch, analyst: Any
) -> None:
    assert Client().get("/healthz").json() == {"status": "ok"}
    assert client_for(analyst).get("/healthz").json() == {"status": "ok"}

    def broken() -> dict[str, Any]:
        raise RuntimeError('FATAL: password authentication failed for user "portal"')

    monkeypatch.setattr(health, "check_database", broken)
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "fail"}
    assert b"password" not in response.content


def test_admins_and_monitoring_get_each_check(admin_user: Any, settings: Any) -> None:
    settings.HEALTHZ_TOKEN = "monitoring-token-" + "x" * 20
    for response in (
        client_for(admin_user).get("/healthz"),
        Client().get("/healthz", HTTP_AUTHORIZATION=f"Bearer {settings.HEALTHZ_TOKEN}"),
    ):
        body = response.json()
        assert response.status_code == 200, body
        assert body["status"] == "ok"
        assert set(body["checks"]) == {"database", "broker", "cache", "scratch"}
        assert all(check["ok"] for check in body["checks"].values())
        assert body["checks"]["scratch"]["free_bytes"] > 0
    wrong = Client().get("/healthz", HTTP_AUTHORIZATION="Bearer guessed")
    assert wrong.json() == {"status": "ok"}


def test_the_detailed_health_names_the_failing_part(admin_user: Any, settings: Any) -> None:
    with socket.socket() as probe:  # a local port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
        }
    }
    settings.HEALTHZ_MIN_FREE_BYTES = 2**62  # no disk has this much free
    response = client_for(admin_user).get("/healthz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"]["ok"] and checks["broker"]["ok"]
    assert not checks["cache"]["ok"] and "ConnectionError" in checks["cache"]["error"]
    assert not checks["scratch"]["ok"] and "free" in checks["scratch"]["error"]


def test_api_errors_are_json_never_the_debug_page(
    admin_user: Any,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.DEBUG = True
    client = client_for(admin_user)
    missing = client.get("/api/v1/no-such-thing/")
    assert missing.status_code == 404
    assert missing["Content-Type"] == "application/json"
    assert missing.json() == {"detail": "Not Found"}

    from portal.api import views

    def boom(self: Any) -> Any:
        raise RuntimeError("secret internals: /srv/portal/settings.py")

    monkeypatch.setattr(views.AuditEventViewSet, "get_queryset", boom)
    crashing = Client(raise_request_exception=False)
    crashing.force_login(admin_user)
    response = crashing.get("/api/v1/audit-events/")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal Server Error"}
    assert b"secret internals" not in response.content
    assert b"Traceback" not in response.content


def test_seed_demo_refuses_to_run_without_debug(settings: Any) -> None:
    from django.contrib.auth import get_user_model

    settings.DEBUG = False
    with pytest.raises(CommandError, match="--allow-insecure-demo-users"):
        call_command("seed_demo", "--lines", "100")
    assert not get_user_model().objects.filter(username="analyst").exists()


@pytest.mark.parametrize(("trusted", "recorded"), [(0, "10.0.0.2"), (1, "198.51.100.7")])
def test_audit_events_record_the_address_the_trusted_proxies_decide(
    trusted: int,
    recorded: str,
    analyst: Any,
    settings: Any,
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from investigations.reference import upload_reference_version
    from portal.models import AuditEvent

    settings.TRUSTED_PROXIES = trusted
    table = upload_reference_version(
        user=analyst,
        kind="known_hosts",
        name="Known hosts",
        upload=SimpleUploadedFile("hosts.csv", b"ip,alias\n10.0.1.10,web-1\n"),
    ).table
    response = client_for(analyst).patch(
        f"/api/v1/reference-tables/{table.pk}/",
        {"shared_editable": True},
        content_type="application/json",
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.7",
    )
    assert response.status_code == 200
    event = AuditEvent.objects.get(action="reference_table.sharing_changed")
    assert event.client_ip == recorded
