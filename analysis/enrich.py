"""Labels for addresses shown in results: known hosts, special ranges, RDAP organisation (cached).

The only module that talks to WHOIS/RDAP. Lookups run for the external addresses of the rows
shown (not every address), with bounded concurrency, short timeouts and one overall deadline:
without a network every address comes back "unknown" quickly and a run never stalls.
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from analysis import geo
from analysis.addresses import IPAddress, cidr_bounds, ip_to_int
from analysis.analyzers.result import AnalysisResult

DEFAULT_RDAP_URL = "https://rdap.org"  # redirects to the registry (RIR) holding the address
ADDRESS_COLUMNS = ("srcaddr", "dstaddr", "ip", "peer", "source", "target")
UNKNOWN = "unknown"
MAX_RDAP_BYTES = 1_000_000

# Ranges no registry lookup can explain, most specific first (IANA special-purpose registries).
SPECIAL_RANGES: tuple[tuple[str, str], ...] = (
    ("169.254.169.254/32", "AWS instance metadata (link-local)"),
    ("0.0.0.0/8", "this network (RFC 791)"),
    ("10.0.0.0/8", "private (RFC 1918)"),
    ("100.64.0.0/10", "carrier-grade NAT (RFC 6598)"),
    ("127.0.0.0/8", "loopback (RFC 1122)"),
    ("169.254.0.0/16", "link-local (RFC 3927)"),
    ("172.16.0.0/12", "private (RFC 1918)"),
    ("192.0.0.0/24", "IETF protocol assignments (RFC 6890)"),
    ("192.0.2.0/24", "documentation (RFC 5737)"),
    ("192.88.99.0/24", "6to4 relay anycast (RFC 7526)"),
    ("192.168.0.0/16", "private (RFC 1918)"),
    ("198.18.0.0/15", "benchmarking (RFC 2544)"),
    ("198.51.100.0/24", "documentation (RFC 5737)"),
    ("203.0.113.0/24", "documentation (RFC 5737)"),
    ("224.0.0.0/4", "multicast (RFC 5771)"),
    ("255.255.255.255/32", "limited broadcast (RFC 919)"),
    ("240.0.0.0/4", "reserved (RFC 1112)"),
    ("::/128", "unspecified (RFC 4291)"),
    ("::1/128", "loopback (RFC 4291)"),
    ("64:ff9b::/96", "NAT64 (RFC 6052)"),
    ("64:ff9b:1::/48", "local NAT64 (RFC 8215)"),
    ("100::/64", "discard-only (RFC 6666)"),
    ("2001::/32", "Teredo (RFC 4380)"),
    ("2001:2::/48", "benchmarking (RFC 5180)"),
    ("2001:db8::/32", "documentation (RFC 3849)"),
    ("2002::/16", "6to4 (RFC 3056)"),
    ("3fff::/20", "documentation (RFC 9637)"),
    ("fc00::/7", "unique local (RFC 4193)"),
    ("fe80::/10", "link-local (RFC 4291)"),
    ("ff00::/8", "multicast (RFC 4291)"),
)
_SPECIAL_BOUNDS = [(cidr_bounds(cidr), label) for cidr, label in SPECIAL_RANGES]


def special_label(ip: str | IPAddress) -> str | None:
    """The label of a private or reserved address (first match in SPECIAL_RANGES), else None."""
    value = ip_to_int(ip)
    for (lo, hi), label in _SPECIAL_BOUNDS:
        if lo <= value <= hi:
            return label
    return None


@dataclass(frozen=True)
class AddressInfo:
    """What is known about one address. `status`: special, internal, found, not_found, error,
    timeout or skipped; `label` is what a page shows (organisation, range name or unknown)."""

    ip: str
    status: str
    label: str
    org: str | None = None
    network: str | None = None
    cidr: str | None = None
    country: str | None = None

    @property
    def cacheable(self) -> bool:
        """Registry answers (and errors, as a negative entry) are cached; not timeouts."""
        return self.status in ("found", "not_found", "error")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AddressInfo:
        def text(key: str) -> str | None:
            value = data.get(key)
            return None if value is None else str(value)

        return cls(
            ip=str(data["ip"]),
            status=str(data["status"]),
            label=str(data.get("label") or UNKNOWN),
            org=text("org"),
            network=text("network"),
            cidr=text("cidr"),
            country=text("country"),
        )


class WhoisCache(Protocol):
    """Where lookups are remembered. The portal keeps them in its database, with a TTL that
    depends on `status` (short for not_found/error: a negative cache)."""

    def get(self, ip: str) -> AddressInfo | None: ...

    def set(self, ip: str, info: AddressInfo) -> None: ...


class MemoryWhoisCache:
    """A process-local cache for the CLI and tests, thread-safe, with TTLs."""

    def __init__(
        self,
        *,
        ttl: float = 7 * 86400,
        negative_ttl: float = 3600,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.clock = clock
        self._items: dict[str, tuple[float, AddressInfo]] = {}
        self._lock = threading.Lock()

    def get(self, ip: str) -> AddressInfo | None:
        with self._lock:
            item = self._items.get(ip)
            if item is None:
                return None
            expires, info = item
            if self.clock() >= expires:
                del self._items[ip]
                return None
            return info

    def set(self, ip: str, info: AddressInfo) -> None:
        ttl = self.ttl if info.status == "found" else self.negative_ttl
        with self._lock:
            self._items[ip] = (self.clock() + ttl, info)

    def __len__(self) -> int:
        return len(self._items)


class AddressLookup(Protocol):
    def lookup(self, ip: str) -> AddressInfo: ...


class RdapClient:
    """Asks an RDAP service `GET {base_url}/ip/{address}` and reads the answer with ipwhois.

    The base URL is configurable (a registry, the rdap.org redirector, or a local fake in
    tests); ipwhois's own lookup would first query DNS/WHOIS for the ASN registry.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_RDAP_URL,
        *,
        timeout: float = 3.0,
        user_agent: str = "flowlog-portal",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.user_agent = user_agent

    def fetch(self, ip: str) -> dict[str, Any] | None:
        """The RDAP JSON of `ip`, or None when the registry has no record (HTTP 404)."""
        url = f"{self.base_url}/ip/{urllib.parse.quote(ip, safe=':.')}"
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"RDAP URL must be http(s): {url!r}")
        request = urllib.request.Request(  # noqa: S310 (scheme checked above)
            url, headers={"Accept": "application/rdap+json", "User-Agent": self.user_agent}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                body = response.read(MAX_RDAP_BYTES + 1)
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise
        if len(body) > MAX_RDAP_BYTES:
            raise ValueError("RDAP answer too large")
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("RDAP answer is not a JSON object")
        return data

    def lookup(self, ip: str) -> AddressInfo:
        try:
            data = self.fetch(ip)
        except (OSError, ValueError) as error:  # URLError, timeouts, bad JSON
            return AddressInfo(ip, "error", UNKNOWN, network=type(error).__name__)
        if data is None:
            return AddressInfo(ip, "not_found", UNKNOWN)
        return parse_rdap(ip, data)


def parse_rdap(ip: str, data: dict[str, Any]) -> AddressInfo:
    """Organisation, network name, CIDR and country from an RDAP IP network object."""
    from ipwhois.exceptions import IPDefinedError
    from ipwhois.net import Net
    from ipwhois.rdap import RDAP

    try:
        parsed = RDAP(Net(ip)).lookup(response=data, bootstrap=True, root_ent_check=False)
    except (IPDefinedError, KeyError, TypeError, ValueError) as error:
        return AddressInfo(ip, "error", UNKNOWN, network=type(error).__name__)
    network = parsed.get("network") or {}
    objects = parsed.get("objects") or {}
    org = None
    for role in ("registrant", "administrative", "abuse"):
        for handle in parsed.get("entities") or []:
            entity = objects.get(handle) or {}
            contact = entity.get("contact") or {}
            if role in (entity.get("roles") or []) and contact.get("name"):
                org = str(contact["name"])
                break
        if org:
            break
    name = network.get("name")
    return AddressInfo(
        ip,
        "found",
        org or (str(name) if name else UNKNOWN),
        org=org,
        network=None if name is None else str(name),
        cidr=network.get("cidr"),
        country=network.get("country"),
    )


class Enricher:
    """Labels the addresses of results: alias, internal/external, special range, organisation."""

    def __init__(
        self,
        *,
        cache: WhoisCache | None = None,
        client: AddressLookup | None = None,
        known_hosts: dict[str, str] | None = None,
        internal_cidrs: Iterable[str] = (),
        max_lookups: int = 50,
        max_workers: int = 8,
        deadline: float = 10.0,
        geo_lookup: bool = False,
        geo_database: geo.AsDatabase | None = None,
    ) -> None:
        self.cache: WhoisCache = cache if cache is not None else MemoryWhoisCache()
        self.client = client
        self.known_hosts = {str(ipaddress.ip_address(k)): v for k, v in (known_hosts or {}).items()}
        self.internal = [cidr_bounds(cidr) for cidr in internal_cidrs]
        self.max_lookups = max_lookups
        self.max_workers = max_workers
        self.deadline = deadline
        # Country and AS of external addresses from the shipped offline data (analysis.geo).
        self.geo_lookup = geo_lookup
        # An uploaded AS database, whose AS number, organisation and country win.
        self.geo_database = geo_database
        self._places: dict[str, geo.GeoInfo | None] = {}

    def is_internal(self, ip: str) -> bool:
        value = ip_to_int(ip)
        return any(lo <= value <= hi for lo, hi in self.internal)

    def lookup_many(self, ips: Iterable[str]) -> dict[str, AddressInfo]:
        """Info for each address, in the order given (lookups for the first max_lookups)."""
        started = time.monotonic()
        results: dict[str, AddressInfo] = {}
        pending: list[str] = []
        for raw in ips:
            ip = _normalise(raw)
            if ip is None or ip in results or ip in pending:
                continue
            special = special_label(ip)
            if special is not None:
                results[ip] = AddressInfo(ip, "special", special)
            elif self.is_internal(ip):
                results[ip] = AddressInfo(ip, "internal", "internal")
            elif (cached := self.cache.get(ip)) is not None:
                results[ip] = cached
            elif self.client is None or len(pending) >= self.max_lookups:
                results[ip] = AddressInfo(ip, "skipped", UNKNOWN)
            else:
                pending.append(ip)
        if pending and self.client is not None:
            results.update(self._lookup_pending(pending, started))
        return results

    def _lookup_pending(self, pending: list[str], started: float) -> dict[str, AddressInfo]:
        assert self.client is not None
        found: dict[str, AddressInfo] = {}
        executor = ThreadPoolExecutor(
            max_workers=max(1, min(self.max_workers, len(pending))), thread_name_prefix="rdap"
        )
        futures: dict[Future[AddressInfo], str] = {
            executor.submit(self.client.lookup, ip): ip for ip in pending
        }
        try:
            remaining = max(0.0, self.deadline - (time.monotonic() - started))
            done, _ = wait(futures, timeout=remaining)
            for future, ip in futures.items():
                if future in done and future.exception() is None:
                    info = future.result()
                    if info.cacheable:
                        self.cache.set(ip, info)
                    found[ip] = info
                elif future in done:
                    found[ip] = AddressInfo(ip, "error", UNKNOWN)
                else:
                    found[ip] = AddressInfo(ip, "timeout", UNKNOWN)
        finally:
            # Never wait for stragglers: they end on their own socket timeout.
            executor.shutdown(wait=False, cancel_futures=True)
        return found

    def describe(self, info: AddressInfo) -> dict[str, Any]:
        alias = self.known_hosts.get(info.ip)
        kind = (
            "internal"
            if info.status == "internal" or self.is_internal(info.ip)
            else ("special" if info.status == "special" else "external")
        )
        described: dict[str, Any] = {
            "alias": alias,
            "kind": kind,
            "label": alias or info.label,
            "org": info.org,
            "network": info.network,
            "cidr": info.cidr,
            "country": info.country,
            "status": info.status,
        }
        if self.geo_lookup:
            where = (
                (self._places[info.ip] if info.ip in self._places else geo.lookup(info.ip))
                if kind == "external"
                else None
            )
            described["country"] = (where.country_code if where else None) or info.country
            described["asn"] = where.asn if where else None
            described["as_org"] = where.as_org if where else None
            if where is not None and where.asn is not None and self.geo_database is not None:
                described["as_source"] = self.geo_database.source.describe()
        return described

    def annotate(self, result: AnalysisResult) -> dict[str, dict[str, Any]]:
        """Fill `result.annotations` for every address in its rows, tables and findings."""
        infos = self.lookup_many(result_addresses(result))
        if self.geo_lookup and self.geo_database is not None:
            # One set-based lookup in the uploaded AS database for all of them.
            self._places = geo.lookup_many(infos, self.geo_database)
        result.annotations = {ip: self.describe(info) for ip, info in infos.items()}
        return result.annotations


def _normalise(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None  # pseudonyms, empty cells


def result_addresses(result: AnalysisResult) -> list[str]:
    """Addresses in a result, in the order shown: rows, further tables, then findings."""
    seen: dict[str, None] = {}
    tables = [(result.columns, result.rows)] + [(t.columns, t.rows) for t in result.tables]
    for columns, rows in tables:
        wanted = [column for column in columns if column in ADDRESS_COLUMNS]
        for row in rows:
            for column in wanted:
                ip = _normalise(row.get(column))
                if ip is not None:
                    seen.setdefault(ip, None)
    for finding in result.findings:
        evidence = finding.get("evidence") or {}
        for value in [evidence.get("peer"), *(evidence.get("targets") or [])]:
            ip = _normalise(value)
            if ip is not None:
                seen.setdefault(ip, None)
    return list(seen)
