"""Address enrichment against a local fake RDAP server (no test needs the internet)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from analysis.analyzers import AnalysisResult
from analysis.enrich import (
    AddressInfo,
    Enricher,
    MemoryWhoisCache,
    RdapClient,
    result_addresses,
    special_label,
)


def rdap_network(ip: str, org: str, start: str, end: str) -> dict[str, Any]:
    return {
        "objectClassName": "ip network",
        "handle": f"NET-{ip}",
        "startAddress": start,
        "endAddress": end,
        "ipVersion": "v6" if ":" in ip else "v4",
        "name": f"{org.split()[0].upper()}-NET",
        "type": "DIRECT ALLOCATION",
        "country": "US",
        "entities": [
            {
                "objectClassName": "entity",
                "handle": f"ORG-{org.split()[0].upper()}",
                "roles": ["registrant"],
                "vcardArray": [
                    "vcard",
                    [["version", {}, "text", "4.0"], ["fn", {}, "text", org]],
                ],
            }
        ],
    }


RECORDS = {
    "8.8.8.8": rdap_network("8.8.8.8", "Google LLC", "8.8.8.0", "8.8.8.255"),
    "2606:4700::1111": rdap_network(
        "2606:4700::1111",
        "Cloudflare, Inc.",
        "2606:4700::",
        "2606:4700:ffff:ffff:ffff:ffff:ffff:ffff",
    ),
}


class FakeRdap:
    """An RDAP service on 127.0.0.1: known records, 404 otherwise, an optional delay."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.delay = 0.0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.requests.append(self.path)
                time.sleep(fake.delay)
                ip = self.path.rsplit("/", 1)[-1]
                record = RECORDS.get(ip)
                body = json.dumps(record or {"errorCode": 404}).encode()
                self.send_response(200 if record else 404)
                self.send_header("Content-Type", "application/rdap+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/rdap"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def rdap() -> Iterator[FakeRdap]:
    fake = FakeRdap()
    yield fake
    fake.close()


def test_it_reads_the_organisation_from_rdap(rdap: FakeRdap) -> None:
    client = RdapClient(rdap.url, timeout=2)
    info = client.lookup("8.8.8.8")
    assert (info.status, info.org, info.label, info.country) == (
        "found",
        "Google LLC",
        "Google LLC",
        "US",
    )
    assert info.cidr == "8.8.8.0/24"
    assert rdap.requests == ["/rdap/ip/8.8.8.8"]
    v6 = client.lookup("2606:4700::1111")
    assert v6.org == "Cloudflare, Inc."


def test_lookups_are_cached_including_negative_answers(rdap: FakeRdap) -> None:
    cache = MemoryWhoisCache()
    enricher = Enricher(cache=cache, client=RdapClient(rdap.url, timeout=2))
    first = enricher.lookup_many(["8.8.8.8", "9.9.9.9"])
    assert first["8.8.8.8"].org == "Google LLC"
    assert (first["9.9.9.9"].status, first["9.9.9.9"].label) == ("not_found", "unknown")
    again = enricher.lookup_many(["8.8.8.8", "9.9.9.9"])
    assert again == first
    assert sorted(rdap.requests) == ["/rdap/ip/8.8.8.8", "/rdap/ip/9.9.9.9"]


def test_special_ranges_are_labelled_without_lookups(rdap: FakeRdap) -> None:
    enricher = Enricher(client=RdapClient(rdap.url), internal_cidrs=["52.0.0.0/8"])
    infos = enricher.lookup_many(
        ["10.1.2.3", "100.64.0.9", "127.0.0.1", "169.254.169.254", "192.0.2.4", "fd12::1",
         "fe80::1", "2001:db8::5", "52.1.2.3"]
    )  # fmt: skip
    assert rdap.requests == []
    assert infos["10.1.2.3"].label == "private (RFC 1918)"
    assert infos["100.64.0.9"].label == "carrier-grade NAT (RFC 6598)"
    assert infos["169.254.169.254"].label.startswith("AWS instance metadata")
    assert infos["2001:db8::5"].label == "documentation (RFC 3849)"
    assert infos["fd12::1"].label == "unique local (RFC 4193)"
    assert infos["52.1.2.3"].status == "internal"
    assert special_label("8.8.8.8") is None


def test_a_slow_service_never_stalls_a_run(rdap: FakeRdap) -> None:
    rdap.delay = 2.0
    cache = MemoryWhoisCache()
    enricher = Enricher(cache=cache, client=RdapClient(rdap.url, timeout=5), deadline=0.3)
    started = time.monotonic()
    infos = enricher.lookup_many(["8.8.8.8", "2606:4700::1111"])
    assert time.monotonic() - started < 1.5
    assert {info.status for info in infos.values()} == {"timeout"}
    assert {info.label for info in infos.values()} == {"unknown"}
    assert len(cache) == 0  # a timeout is not an answer worth remembering


def test_without_a_network_every_address_is_unknown_quickly() -> None:
    # Nothing listens on port 9 of the loopback: the connection is refused at once.
    enricher = Enricher(client=RdapClient("http://127.0.0.1:9/rdap", timeout=1), deadline=5)
    started = time.monotonic()
    infos = enricher.lookup_many(["8.8.8.8", "1.1.1.1"])
    assert time.monotonic() - started < 3
    assert {(info.status, info.label) for info in infos.values()} == {("error", "unknown")}


def test_lookups_stop_at_max_lookups(rdap: FakeRdap) -> None:
    enricher = Enricher(client=RdapClient(rdap.url), max_lookups=1)
    infos = enricher.lookup_many(["8.8.8.8", "9.9.9.9"])
    assert infos["9.9.9.9"].status == "skipped"
    assert rdap.requests == ["/rdap/ip/8.8.8.8"]


def test_annotate_labels_the_addresses_of_a_result(rdap: FakeRdap) -> None:
    result = AnalysisResult(
        name="external-outbound",
        title="External outbound",
        columns=["dstaddr", "dstport", "flows"],
        rows=[
            {"dstaddr": "8.8.8.8", "dstport": 53, "flows": 3},
            {"dstaddr": "10.0.1.10", "dstport": 22, "flows": 1},
        ],
        total_groups=2,
        truncated=False,
        findings=[{"evidence": {"peer": "2606:4700::1111", "targets": ["10.0.1.10"]}}],
    )
    assert result_addresses(result) == ["8.8.8.8", "10.0.1.10", "2606:4700::1111"]
    enricher = Enricher(
        client=RdapClient(rdap.url),
        known_hosts={"10.0.1.10": "web"},
        internal_cidrs=["10.0.0.0/16"],
    )
    annotations = enricher.annotate(result)
    assert annotations["8.8.8.8"]["label"] == "Google LLC"
    assert annotations["8.8.8.8"]["kind"] == "external"
    assert annotations["10.0.1.10"] == {
        "alias": "web",
        "kind": "internal",
        "label": "web",
        "org": None,
        "network": None,
        "cidr": None,
        "country": None,
        "status": "special",
    }
    assert result.to_dict()["annotations"]["2606:4700::1111"]["org"] == "Cloudflare, Inc."


def test_the_memory_cache_expires_entries() -> None:
    now = [0.0]
    cache = MemoryWhoisCache(ttl=100, negative_ttl=10, clock=lambda: now[0])
    cache.set("8.8.8.8", AddressInfo("8.8.8.8", "found", "Google LLC", org="Google LLC"))
    cache.set("9.9.9.9", AddressInfo("9.9.9.9", "not_found", "unknown"))
    now[0] = 50
    assert cache.get("8.8.8.8") is not None and cache.get("9.9.9.9") is None
    now[0] = 150
    assert cache.get("8.8.8.8") is None
    info = AddressInfo("8.8.8.8", "found", "Google LLC", org="Google LLC")
    assert AddressInfo.from_dict(info.to_dict()) == info
