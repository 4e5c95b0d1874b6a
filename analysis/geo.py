"""Country and autonomous system of external addresses, from data shipped with a package.

The data is geoip2fast's `geoip2fast-asn-ipv6.dat.gz` (MaxMind GeoLite2 Country and ASN,
IPv4 and IPv6), read from the installed package: no lookup leaves the machine, and nothing
here downloads or updates it. It is loaded once per process, on the first lookup (about a
second and 100 MB), so runs that show no external address never pay for it.

GeoLite2 ASN data carries the AS organisation and the routed prefix but, in this packaging,
not the AS number: `asn` is None unless the data gives one.
"""

from __future__ import annotations

import ipaddress
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import metadata
from typing import Any, NamedTuple

PACKAGE = "geoip2fast"
DATA_FILE = "geoip2fast-asn-ipv6.dat.gz"
LICENCE = (
    "GeoLite2 data by MaxMind (https://www.maxmind.com), under the GeoLite2 End User "
    "License Agreement (attribution, CC BY-SA 4.0 terms); geoip2fast code under MIT"
)
CACHE_SIZE = 65_536
# geoip2fast's codes for "not a public address" and "no network in the data".
_NO_COUNTRY = {"--", "##", "@@", ""}


class GeoInfo(NamedTuple):
    """Where an address is registered: ISO country code and name, AS number and organisation."""

    country_code: str | None
    country_name: str | None
    asn: int | None
    as_org: str | None


@dataclass(frozen=True)
class GeoSource:
    """What the data is, for the page footer and the README: name, date, licence."""

    name: str
    version: str
    date: date | None
    licence: str

    def describe(self) -> str:
        when = self.date.isoformat() if self.date else "undated"
        return f"{self.name} ({when})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "date": self.date.isoformat() if self.date else None,
            "licence": self.licence,
        }


class GeoDataMissing(RuntimeError):
    """The package that ships the data is not installed (run `make install`)."""


_lock = threading.Lock()
_reader: Any = None


def _load() -> Any:
    """The one geoip2fast reader of this process (the package keeps its tables in globals)."""
    global _reader
    with _lock:
        if _reader is None:
            try:
                from geoip2fast import GeoIP2Fast  # type: ignore[import-untyped]
            except ImportError as error:
                raise GeoDataMissing(
                    f"the {PACKAGE} package is not installed; run `make install`"
                ) from error
            _reader = GeoIP2Fast(geoip2fast_data_file=DATA_FILE, verbose=False)
        return _reader


@lru_cache(maxsize=1)
def source() -> GeoSource:
    """The data's name, package version, date and licence (loads the data)."""
    info = _load().get_database_info()
    raw = str(info.get("source_info") or "")
    match = re.search(r"(\d{4})(\d{2})(\d{2})$", raw)
    when = date(int(match[1]), int(match[2]), int(match[3])) if match else None
    return GeoSource(
        name="MaxMind GeoLite2 Country and ASN (geoip2fast)",
        version=metadata.version(PACKAGE),
        date=when,
        licence=LICENCE,
    )


def _public(ip: str) -> str | None:
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address) if address.is_global else None


@lru_cache(maxsize=CACHE_SIZE)
def lookup(ip: str) -> GeoInfo | None:
    """Country and AS of a public address; None for private, reserved or unknown ones and for
    text that is not an address."""
    address = _public(ip)
    if address is None:
        return None
    found = _load().lookup(address)
    if getattr(found, "is_private", False):
        return None
    code = str(getattr(found, "country_code", "") or "")
    org = str(getattr(found, "asn_name", "") or "") or None
    if code in _NO_COUNTRY and org is None:
        return None
    known = code not in _NO_COUNTRY
    return GeoInfo(
        country_code=code if known else None,
        country_name=str(found.country_name) if known else None,
        asn=None,
        as_org=org,
    )


def lookup_many(ips: Iterable[str]) -> dict[str, GeoInfo | None]:
    """`lookup` for each distinct address."""
    return {ip: lookup(ip) for ip in dict.fromkeys(ips)}


OVERRIDE_LABELS = ("country", "country_name", "asn", "as_org")


class Overrides:
    """A run's own country/AS data: the entries of its CIDR reference tables that carry a
    `country`, `asn` or `as_org` label (a CSV `cidr,country,asn,as_org`, or an RFC 8805
    geofeed). The longest matching prefix wins over the shipped data, field by field."""

    def __init__(self, cidr_tables: Iterable[dict[str, Any]]) -> None:
        self.names: list[str] = []
        # prefix length -> network -> labels, per IP version, longest prefix first.
        self._by_length: dict[int, dict[tuple[int, int], dict[str, str]]] = {}
        for table in cidr_tables:
            used = False
            for cidr, labels in table.get("entries") or []:
                picked = {k: str(v) for k, v in (labels or {}).items() if k in OVERRIDE_LABELS}
                if not picked:
                    continue
                network = ipaddress.ip_network(str(cidr), strict=False)
                key = (network.version, int(network.network_address))
                self._by_length.setdefault(network.prefixlen, {}).setdefault(key, picked)
                used = True
            if used:
                self.names.append(str(table.get("name")))
        self._lengths = sorted(self._by_length, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._lengths)

    def _match(self, ip: str) -> dict[str, str] | None:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return None
        bits = address.max_prefixlen
        value = int(address)
        for length in self._lengths:
            if length > bits:
                continue
            base = value >> (bits - length) << (bits - length)
            found = self._by_length[length].get((address.version, base))
            if found is not None:
                return found
        return None

    def apply(self, ip: str, shipped: GeoInfo | None) -> GeoInfo | None:
        """`shipped` with the fields the run's tables give for `ip` replaced."""
        found = self._match(ip) if self else None
        if found is None:
            return shipped
        code = found.get("country", "").upper() or (shipped.country_code if shipped else None)
        same = shipped is not None and shipped.country_code == code
        name = found.get("country_name") or (shipped.country_name if same and shipped else code)
        number = found.get("asn", "").upper().removeprefix("AS")
        return GeoInfo(
            country_code=code or None,
            country_name=name or None,
            asn=int(number) if number.isdigit() else (shipped.asn if shipped else None),
            as_org=found.get("as_org") or (shipped.as_org if shipped else None),
        )
