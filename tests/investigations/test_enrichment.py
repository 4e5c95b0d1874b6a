"""WHOIS/RDAP enrichment in runs: organisations of external peers from a local fake registry,
cached in the database (a second run asks nothing), private ranges labelled without asking."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from investigations.models import QueryRun, WhoisRecord
from tests.conftest import client_for, wait_for_run
from tests.flowlogs import SAMPLE_TEXT

# The sample, plus SSH from two public addresses the fake registry knows and one it does not.
EXTRA = "\n".join(
    f"2 123456789012 eni-0a1 {ip} 10.0.1.10 40000 22 6 5 300 1763900010 1763900070 ACCEPT OK"
    for ip in ("185.220.101.7", "45.33.32.156", "8.8.4.4")
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def _run(client: Any, investigation: Any) -> QueryRun:
    client.post(
        reverse("investigations:run_create", args=[investigation.pk]),
        {
            "log_files": SimpleUploadedFile("vpc.log", (SAMPLE_TEXT + EXTRA + "\n").encode()),
            "analyses": ["ssh-inbound"],
            "target_ips": "10.0.1.10",
            "vpc_cidrs": "10.0.0.0/16",
            "top_n": 10,
            "rank_by": "flows",
        },
    )
    run = wait_for_run(QueryRun.objects.order_by("-pk").first())
    assert run.status == "succeeded", run.error
    return run


def test_external_peers_get_their_organisation_once(
    celery_worker_process: Any, fake_rdap: Any, investigation: Any, analyst: Any
) -> None:
    client = client_for(analyst)
    before = len(fake_rdap.requests)
    run = _run(client, investigation)
    annotations = run.results.get(analysis="ssh-inbound").annotations
    assert annotations["185.220.101.7"]["org"] == "Example Bulletproof Hosting"
    assert annotations["45.33.32.156"]["org"] == "Example Research Network"
    assert annotations["8.8.4.4"]["status"] == "not_found"
    assert annotations["203.0.113.50"]["kind"] == "special"  # documentation range: not asked
    asked = fake_rdap.requests[before:]
    assert sorted(asked) == ["/ip/185.220.101.7", "/ip/45.33.32.156", "/ip/8.8.4.4"]
    assert WhoisRecord.objects.filter(status="found").count() == 2
    assert WhoisRecord.objects.filter(status="not_found").count() == 1  # negative cache
    page = client.get(reverse("investigations:run_detail", args=[run.pk])).content.decode()
    assert "Example Bulletproof Hosting" in page

    _run(client, investigation)  # answered from the database cache
    assert fake_rdap.requests[before:] == asked


@pytest.mark.django_db
def test_an_unreachable_registry_is_asked_only_a_few_times_per_run() -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from analysis.enrich import RdapClient
    from investigations.whois import RegistryCircuitBreaker

    asked: list[str] = []

    class Broken(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(503)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Broken)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        breaker = RegistryCircuitBreaker(
            RdapClient(f"http://127.0.0.1:{server.server_port}", timeout=2), trip_after=3
        )
        infos = [breaker.lookup(f"45.33.32.{n}") for n in range(1, 21)]
    finally:
        server.shutdown()
    assert len(asked) == 3
    assert [i.status for i in infos[:3]] == ["error"] * 3
    assert {i.status for i in infos[3:]} == {"skipped"}  # not cached: asked again next run
