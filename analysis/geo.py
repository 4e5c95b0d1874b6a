"""Country and autonomous system of external addresses, from data shipped with a package.

The data is geoip2fast's `geoip2fast-asn-ipv6.dat.gz` (MaxMind GeoLite2 Country and ASN,
IPv4 and IPv6), read from the installed package: no lookup leaves the machine, and nothing
here downloads or updates it. It is loaded once per process, on the first lookup (about a
second and 100 MB), so runs that show no external address never pay for it.

GeoLite2 ASN data carries the AS organisation and the routed prefix but, in this packaging,
not the AS number: `asn` is None unless the data gives one. An admin-uploaded AS database
(`AsDatabase`: iptoasn.com ip2asn or GeoLite2-ASN CSV, read by analysis.reference) gives AS
numbers: it is stored as sorted integer ranges in a Parquet file and joined set-based (a DuckDB
ASOF join), and its number, organisation and country win over the shipped data's.
"""

from __future__ import annotations

import csv
import ipaddress
import json
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any, NamedTuple

import duckdb

from analysis.addresses import ip_to_int
from analysis.reference import AsDatabaseFile

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


def preload() -> bool:
    """Load the shipped data now (about 0.4 s) rather than in the first run that needs it:
    a worker's parent process calls this before forking its pool. False where it is missing
    (a run that needs it then says so)."""
    try:
        _load()
    except GeoDataMissing:
        return False
    return True


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


def lookup_many(
    ips: Iterable[str],
    database: AsDatabase | None = None,
    *,
    values: Mapping[str, int] | None = None,
) -> dict[str, GeoInfo | None]:
    """`lookup` for each distinct address; with an uploaded AS `database`, its AS number,
    organisation and country win where it has the address (one set-based join for all).
    `values` may give the addresses' integers (analysis.addresses), as the flows hold them."""
    distinct = list(dict.fromkeys(ips))
    shipped = {ip: lookup(ip) for ip in distinct}
    if database is None:
        return shipped
    if values is None:
        values = {}
        for ip in distinct:
            address = _public(ip)
            if address is not None:
                values[ip] = ip_to_int(address)
    return database.place({ip: values[ip] for ip in distinct if ip in values}, shipped)


@lru_cache(maxsize=1)
def _country_names() -> dict[str, str]:
    """ISO code -> English name, from the shipped data's list."""
    _load()
    from geoip2fast import geoip2fast as package

    names = {}
    for item in getattr(package, "mainListNamesCountry", []):
        code, _, name = str(item).partition(":")
        if len(code) == 2 and code.isalpha():
            names[code] = name
    return names


AS_DATABASE_LICENCES = {
    "ip2asn": "iptoasn.com data, public domain under the Open Data Commons Public Domain "
    "Dedication and License (PDDL) v1.0",
    "geolite2-asn-csv": "GeoLite2 data by MaxMind (https://www.maxmind.com), under the "
    "GeoLite2 End User License Agreement (attribution, CC BY-SA 4.0 terms)",
}
AS_DATABASE_NAMES = {
    "ip2asn": "iptoasn.com ip2asn",
    "geolite2-asn-csv": "MaxMind GeoLite2 ASN (CSV)",
}
_databases_lock = threading.Lock()
_databases: dict[str, AsDatabase] = {}
# The ASOF join's keys: DuckDB joins 64-bit integers fast and 128-bit ones very slowly, so a
# range is searched by (family, 64-bit key): IPv4 (and the rest of ::/64) by its value, IPv6 by
# its first 64 bits (routed prefixes are /64 or shorter); lo/hi then check the exact value.
_SEARCH_KEYS = (
    "CAST(CASE WHEN {value} < CAST(18446744073709551616 AS UHUGEINT) THEN 4 ELSE 6 END "
    "AS UTINYINT) AS family, CAST(CASE WHEN {value} < CAST(18446744073709551616 AS UHUGEINT) "
    "THEN {value} ELSE {value} >> 64 END AS UBIGINT) AS search"
)
_connection: duckdb.DuckDBPyConnection | None = None


def write_as_database(parsed: AsDatabaseFile, folder: Path, key: str, *, made: date) -> Path:
    """Store `parsed` as `<folder>/<key>.parquet` (ranges sorted by their start) with a JSON
    sidecar naming the data and its date; returns the Parquet file's path. Idempotent: the same
    key (the file's hash) is the same content."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{key}.parquet"
    source = GeoSource(
        name=AS_DATABASE_NAMES[parsed.file_format],
        version=parsed.file_format,
        date=parsed.made.date() if parsed.made else made,
        licence=AS_DATABASE_LICENCES[parsed.file_format],
    )
    sidecar = target.with_suffix(".json")
    staging = folder / f".{key}.{os.getpid()}.csv"
    try:
        with staging.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            for item in parsed.ranges:
                writer.writerow((item.lo, item.hi, item.asn, item.as_org, item.country or ""))
        partial = folder / f".{key}.{os.getpid()}.parquet"
        with duckdb.connect() as connection:
            connection.execute(
                # Parquet has no 128-bit integer (DuckDB would write a DOUBLE and lose IPv6
                # precision): the bounds are kept as their decimal text, cast when loaded.
                f"COPY (SELECT lo, hi, "
                f"CAST(asn AS UBIGINT) AS asn, as_org, NULLIF(country, '') AS country "
                f"FROM read_csv(?, header = false, quote = '\"', "
                f"columns = {{'lo': 'VARCHAR', 'hi': 'VARCHAR', 'asn': 'VARCHAR', "
                f"'as_org': 'VARCHAR', 'country': 'VARCHAR'}})) "
                f"TO '{partial}' (FORMAT parquet)",
                [str(staging)],
            )
        os.replace(partial, target)
    finally:
        staging.unlink(missing_ok=True)
    sidecar.write_text(
        json.dumps({**source.to_dict(), "ranges": len(parsed.ranges)}), encoding="utf-8"
    )
    return target


class AsDatabase:
    """An uploaded AS database, loaded once per process into an in-memory DuckDB table."""

    def __init__(self, path: Path, source: GeoSource, table: str) -> None:
        self.path = path
        self.source = source
        self.table = table

    @classmethod
    def open(cls, path: str | Path) -> AsDatabase:
        """The database stored at `path` (write_as_database), kept for the process's life;
        GeoDataMissing when the file is gone."""
        global _connection
        key = str(path)
        with _databases_lock:
            found = _databases.get(key)
            if found is not None:
                return found
            target = Path(path)
            source = cls.read_source(target)
            if _connection is None:
                _connection = duckdb.connect()
                # Small probe sets would otherwise take a nested-loop ASOF join: a scan of
                # every range per address (seconds for a hundred addresses).
                _connection.execute("SET asof_loop_join_threshold = 0")
            table = f"as_ranges_{len(_databases)}"
            _connection.execute(
                f"CREATE TABLE {table} AS SELECT {_SEARCH_KEYS.format(value='lo')}, lo, hi, "
                f"asn, as_org, country FROM (SELECT CAST(lo AS UHUGEINT) AS lo, "
                f"CAST(hi AS UHUGEINT) AS hi, asn, as_org, country FROM read_parquet(?)) "
                f"ORDER BY family, search",
                [key],
            )
            found = _databases[key] = cls(target, source, table)
            return found

    @staticmethod
    def read_source(path: Path) -> GeoSource:
        """The data's name, format, date and licence, from the file's JSON sidecar."""
        sidecar = path.with_suffix(".json")
        if not path.exists() or not sidecar.exists():
            raise GeoDataMissing(f"the AS database file {path} is missing")
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        return GeoSource(
            name=str(meta["name"]),
            version=str(meta.get("version") or ""),
            date=date.fromisoformat(meta["date"]) if meta.get("date") else None,
            licence=str(meta.get("licence") or ""),
        )

    def lookup_values(self, values: Iterable[int]) -> dict[int, tuple[int, str, str | None]]:
        """(AS number, organisation, country) of each address value the data has, in one
        ASOF join of the distinct values against the sorted ranges."""
        wanted = [str(value) for value in set(values)]
        if not wanted:
            return {}
        assert _connection is not None
        with _databases_lock:
            cursor = _connection.cursor()
        try:
            # Small probe sets would otherwise take a nested-loop ASOF join: a scan of every
            # range per address (seconds for a hundred addresses). The setting is a session's.
            cursor.execute("SET asof_loop_join_threshold = 0")
            rows = cursor.execute(
                f"WITH wanted AS (SELECT value, {_SEARCH_KEYS.format(value='value')} FROM "
                f"(SELECT CAST(UNNEST(?::VARCHAR[]) AS UHUGEINT) AS value)) "
                f"SELECT CAST(wanted.value AS VARCHAR), ranges.asn, ranges.as_org, "
                f"ranges.country FROM wanted ASOF JOIN {self.table} AS ranges "
                f"ON wanted.family = ranges.family AND wanted.search >= ranges.search "
                f"WHERE wanted.value BETWEEN ranges.lo AND ranges.hi",
                [wanted],
            ).fetchall()
        finally:
            cursor.close()
        return {int(value): (int(asn), str(org), country) for value, asn, org, country in rows}

    def place(
        self, values: Mapping[str, int], shipped: Mapping[str, GeoInfo | None]
    ) -> dict[str, GeoInfo | None]:
        """`shipped` (address -> place) with this database's fields where it has the
        address's value (`values`: address -> integer)."""
        found = self.lookup_values(values.values())
        names = _country_names() if found else {}
        placed = dict(shipped)
        for ip, value in values.items():
            hit = found.get(value)
            if hit is None:
                continue
            asn, org, code = hit
            before = shipped.get(ip)
            if code is None and before is not None:
                code = before.country_code
            name = names.get(code or "", code) if code else None
            placed[ip] = GeoInfo(country_code=code, country_name=name, asn=asn, as_org=org)
        return placed


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
