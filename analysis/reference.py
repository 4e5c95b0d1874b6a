"""Reference tables from files: port lookup tags, CIDR tables (AWS, geofeed, CSV, JSON), hosts,
AS databases (iptoasn.com ip2asn, GeoLite2-ASN CSV)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

from analysis.addresses import cidr_bounds, int_to_ip, ip_to_int, parse_cidr, parse_ip
from analysis.protocols import PROTOCOL_NUMBERS

CIDR_KINDS = ("aws-ip-ranges", "geofeed", "csv", "subnets-json")
PROTOCOL_ALIASES = {**PROTOCOL_NUMBERS, "icmpv6": 58, "icmp6": 58}
MAX_TAG_LENGTH = 100
MAX_LABEL_LENGTH = 200

_COUNTRY_RE = re.compile(r"[A-Za-z]{2}")
_REGION_RE = re.compile(r"[A-Za-z]{2}-[A-Za-z0-9]{1,3}")
_PREFIX_KEYS = ("ip_prefix", "ipv6_prefix", "cidr", "prefix", "cidr_block", "ipv6_cidr_block")


class ReferenceTableError(ValueError):
    """A file that cannot be imported: the line (None for whole-file problems) and why."""

    def __init__(self, line: int | None, reason: str) -> None:
        self.line = line
        self.reason = reason
        super().__init__(f"line {line}: {reason}" if line is not None else reason)


@dataclass(frozen=True)
class LookupEntry:
    """One row of a lookup table: traffic to `port` over `protocol` (a number) is `tag`."""

    port: int
    protocol: int
    tag: str

    def as_param(self) -> tuple[int, int, str]:
        return (self.port, self.protocol, self.tag)


@dataclass(frozen=True)
class CidrEntry:
    """A network and its labels (provider, service, region, country, city, ...)."""

    cidr: str
    labels: dict[str, str] = field(default_factory=dict, hash=False)


@dataclass
class CidrTable:
    """The entries of one CIDR file and the kind it was read as."""

    kind: str
    entries: list[CidrEntry]

    def as_param(self, name: str) -> dict[str, Any]:
        """The plain form AnalysisParams.cidr_tables takes."""
        return {"name": name, "entries": [[e.cidr, dict(e.labels)] for e in self.entries]}


def _text(data: str | bytes) -> str:
    if isinstance(data, bytes):
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise ReferenceTableError(None, f"not UTF-8 text ({error.reason})") from None
    return data.removeprefix("\ufeff")


def _csv_rows(text: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, stripped fields) of each CSV row that is neither blank nor a comment."""
    reader = csv.reader(io.StringIO(text))
    try:
        for row in reader:
            fields = [value.strip() for value in row]
            if not any(fields) or fields[0].startswith("#"):
                continue
            yield reader.line_num, fields
    except csv.Error as error:
        raise ReferenceTableError(reader.line_num, f"unreadable CSV ({error})") from None


def parse_protocol(value: str) -> int:
    """A protocol number from a number (0-255) or a name such as TCP, udp, icmp."""
    text = value.strip().lower()
    if text.isdigit():
        number = int(text)
        if number > 255:
            raise ValueError(f"protocol number must be 0-255, got {value!r}")
        return number
    try:
        return PROTOCOL_ALIASES[text]
    except KeyError:
        raise ValueError(
            f"unknown protocol {value!r} (use a number or one of "
            f"{', '.join(sorted(PROTOCOL_ALIASES))})"
        ) from None


def _port(value: str) -> int:
    if not value.isdigit() or int(value) > 65535:
        raise ValueError(f"port must be a number from 0 to 65535, got {value!r}")
    return int(value)


def parse_lookup_table(data: str | bytes) -> list[LookupEntry]:
    """Rows `dstport,protocol,tag` (an optional header first). All rows are good or it raises.

    Several port/protocol pairs may share a tag; one pair cannot have two tags.
    """
    entries: list[LookupEntry] = []
    seen: dict[tuple[int, int], tuple[str, int]] = {}
    first = True
    for line, fields in _csv_rows(_text(data)):
        if first and fields[0].lower() in ("dstport", "port", "dst_port"):
            first = False
            continue
        first = False
        if len(fields) != 3:
            raise ReferenceTableError(
                line, f"expected 3 fields (dstport,protocol,tag), found {len(fields)}"
            )
        try:
            port = _port(fields[0])
            protocol = parse_protocol(fields[1])
        except ValueError as error:
            raise ReferenceTableError(line, str(error)) from None
        tag = fields[2]
        if not tag:
            raise ReferenceTableError(line, "empty tag")
        if len(tag) > MAX_TAG_LENGTH:
            raise ReferenceTableError(line, f"tag longer than {MAX_TAG_LENGTH} characters")
        previous = seen.get((port, protocol))
        if previous is not None:
            if previous[0] != tag:
                raise ReferenceTableError(
                    line,
                    f"port {port} protocol {fields[1]} is already tagged {previous[0]!r} "
                    f"on line {previous[1]}",
                )
            continue
        seen[(port, protocol)] = (tag, line)
        entries.append(LookupEntry(port, protocol, tag))
    if not entries:
        raise ReferenceTableError(None, "the file holds no entries")
    return entries


def _cidr(value: str, line: int | None, where: str = "") -> str:
    try:
        return str(parse_cidr(value))
    except ValueError as error:
        raise ReferenceTableError(line, f"{where}{error}") from None


def detect_cidr_kind(data: str | bytes) -> str:
    """Which of CIDR_KINDS a file is: JSON by its keys, CSV by its header and columns."""
    text = _text(data).lstrip()
    if text.startswith(("{", "[")):
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise ReferenceTableError(error.lineno, f"invalid JSON ({error.msg})") from None
        if isinstance(document, dict) and ("prefixes" in document or "ipv6_prefixes" in document):
            return "aws-ip-ranges"
        if isinstance(document, dict) and "subnets" in document:
            return "subnets-json"
        raise ReferenceTableError(
            None, 'JSON file is neither AWS ip-ranges.json nor {"subnets": [...]}'
        )
    rows = []
    for _, fields in _csv_rows(text):
        rows.append(fields)
        if len(rows) >= 50:
            break
    if not rows:
        raise ReferenceTableError(None, "the file holds no entries")
    if _is_header(rows[0]):
        return "csv"
    if all(_looks_like_geofeed(fields) for fields in rows):
        return "geofeed"
    return "csv"


def _is_header(fields: list[str]) -> bool:
    try:
        parse_cidr(fields[0])
    except ValueError:
        return True
    return False


def _looks_like_geofeed(fields: list[str]) -> bool:
    """RFC 8805: prefix, ISO 3166 alpha-2 country, ISO 3166-2 region, city, postal code."""
    if not 2 <= len(fields) <= 5:
        return False
    country = fields[1]
    region = fields[2] if len(fields) > 2 else ""
    return bool(
        (not country or _COUNTRY_RE.fullmatch(country))
        and (not region or _REGION_RE.fullmatch(region))
        and (country or region)
    )


def parse_cidr_table(data: str | bytes, kind: str = "auto") -> CidrTable:
    """Read a CIDR table of any kind in CIDR_KINDS (`auto` detects it). IPv4 and IPv6.

    All entries are good or it raises ReferenceTableError: nothing is half-imported.
    """
    text = _text(data)
    if kind == "auto":
        kind = detect_cidr_kind(text)
    parsers = {
        "aws-ip-ranges": _parse_aws,
        "geofeed": _parse_geofeed,
        "csv": _parse_plain_csv,
        "subnets-json": _parse_subnets,
    }
    if kind not in parsers:
        raise ValueError(f"unknown CIDR table kind {kind!r}; known: {', '.join(CIDR_KINDS)}")
    entries = parsers[kind](text)
    if not entries:
        raise ReferenceTableError(None, "the file holds no entries")
    return CidrTable(kind, entries)


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ReferenceTableError(error.lineno, f"invalid JSON ({error.msg})") from None


def _parse_aws(text: str) -> list[CidrEntry]:
    """AWS ip-ranges.json: `prefixes` (ip_prefix) and `ipv6_prefixes` (ipv6_prefix).

    A prefix listed under several services (AMAZON and EC2, say) becomes one entry naming
    the specific services; AMAZON, the superset, only when it is the sole one.
    """
    document = _json(text)
    if not isinstance(document, dict):
        raise ReferenceTableError(None, "ip-ranges.json must be a JSON object")
    merged: dict[str, dict[str, list[str]]] = {}
    for list_key, prefix_key in (("prefixes", "ip_prefix"), ("ipv6_prefixes", "ipv6_prefix")):
        items = document.get(list_key) or []
        if not isinstance(items, list):
            raise ReferenceTableError(None, f"{list_key} must be a list")
        for index, item in enumerate(items):
            where = f"{list_key}[{index}]: "
            if not isinstance(item, dict) or not isinstance(item.get(prefix_key), str):
                raise ReferenceTableError(None, f"{where}missing {prefix_key}")
            cidr = _cidr(item[prefix_key], None, where)
            values = merged.setdefault(cidr, {"service": [], "region": [], "border_group": []})
            for label, key in (
                ("service", "service"),
                ("region", "region"),
                ("border_group", "network_border_group"),
            ):
                value = str(item.get(key) or "")
                if value and value not in values[label]:
                    values[label].append(value)
    entries = []
    for cidr, values in merged.items():
        services = [s for s in values["service"] if s != "AMAZON"] or values["service"]
        labels = {"provider": "AWS", "service": "+".join(sorted(services))}
        labels["region"] = "+".join(values["region"])
        groups = [g for g in values["border_group"] if g not in values["region"]]
        if groups:
            labels["border_group"] = "+".join(groups)
        entries.append(CidrEntry(cidr, {k: v for k, v in labels.items() if v}))
    return entries


def _parse_subnets(text: str) -> list[CidrEntry]:
    """{"subnets": [{"ip_prefix": "...", "name": "...", ...}]}: other fields become labels."""
    document = _json(text)
    items = document.get("subnets") if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise ReferenceTableError(None, 'expected {"subnets": [...]}')
    entries = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        where = f"subnets[{index}]: "
        if not isinstance(item, dict):
            raise ReferenceTableError(None, f"{where}expected an object")
        key = next((k for k in _PREFIX_KEYS if isinstance(item.get(k), str)), None)
        if key is None:
            raise ReferenceTableError(None, f"{where}no prefix ({' or '.join(_PREFIX_KEYS)})")
        cidr = _cidr(item[key], None, where)
        if cidr in seen:
            raise ReferenceTableError(None, f"{where}{cidr} is listed twice")
        seen.add(cidr)
        labels = {
            str(name): str(value)[:MAX_LABEL_LENGTH]
            for name, value in item.items()
            if name != key and isinstance(value, str | int | float) and str(value)
        }
        entries.append(CidrEntry(cidr, labels))
    return entries


def _unique(cidr: str, line: int, seen: dict[str, int]) -> None:
    if cidr in seen:
        raise ReferenceTableError(line, f"{cidr} is already listed on line {seen[cidr]}")
    seen[cidr] = line


def _parse_geofeed(text: str) -> list[CidrEntry]:
    """RFC 8805 geofeed: prefix,country,region,city,postal (no header, # comments)."""
    entries: list[CidrEntry] = []
    seen: dict[str, int] = {}
    names = ("country", "region", "city", "postal")
    for line, fields in _csv_rows(text):
        if len(fields) > 5:
            raise ReferenceTableError(
                line, f"a geofeed row has at most 5 fields, found {len(fields)}"
            )
        cidr = _cidr(fields[0], line)
        _unique(cidr, line, seen)
        if len(fields) > 1 and fields[1] and not _COUNTRY_RE.fullmatch(fields[1]):
            raise ReferenceTableError(line, f"country must be a 2-letter code, got {fields[1]!r}")
        labels = {name: value for name, value in zip(names, fields[1:], strict=False) if value}
        entries.append(CidrEntry(cidr, labels))
    return entries


def _parse_plain_csv(text: str) -> list[CidrEntry]:
    """`cidr,label[,...]`; with a header its names label the columns, else label, label_2..."""
    entries: list[CidrEntry] = []
    seen: dict[str, int] = {}
    names: list[str] | None = None
    for line, fields in _csv_rows(text):
        if names is None and not entries and _is_header(fields):
            names = [name.lower() or f"label_{i + 1}" for i, name in enumerate(fields[1:])]
            continue
        if len(fields) < 2:
            raise ReferenceTableError(line, "expected cidr,label[,...]")
        cidr = _cidr(fields[0], line)
        _unique(cidr, line, seen)
        keys = names or ["label"] + [f"label_{i + 2}" for i in range(len(fields) - 2)]
        if len(fields) - 1 > len(keys):
            raise ReferenceTableError(
                line, f"{len(fields)} fields, but the header names {len(keys) + 1}"
            )
        labels = {
            key: value[:MAX_LABEL_LENGTH]
            for key, value in zip(keys, fields[1:], strict=False)
            if value
        }
        entries.append(CidrEntry(cidr, labels))
    return entries


def parse_known_hosts(data: str | bytes) -> dict[str, str]:
    """Rows `ip,alias` (an optional header first) as {normalised ip: alias}."""
    hosts: dict[str, str] = {}
    lines: dict[str, int] = {}
    first = True
    for line, fields in _csv_rows(_text(data)):
        if first and fields[0].lower() in ("ip", "address", "ip_address"):
            first = False
            continue
        first = False
        if len(fields) != 2:
            raise ReferenceTableError(line, f"expected 2 fields (ip,alias), found {len(fields)}")
        try:
            ip = str(parse_ip(fields[0]))
        except ValueError as error:
            raise ReferenceTableError(line, str(error)) from None
        alias = fields[1]
        if not alias:
            raise ReferenceTableError(line, "empty alias")
        if ip in hosts and hosts[ip] != alias:
            raise ReferenceTableError(
                line, f"{ip} is already called {hosts[ip]!r} on line {lines[ip]}"
            )
        hosts[ip] = alias[:MAX_LABEL_LENGTH]
        lines.setdefault(ip, line)
    if not hosts:
        raise ReferenceTableError(None, "the file holds no entries")
    return hosts


Indicator = tuple[str, str, float | None, str]  # (cidr, label, confidence, source)
INDICATOR_KINDS = ("auto", "csv", "plain", "stix", "misp")
_STIX_ADDRESS_RE = re.compile(r"(ipv4-addr|ipv6-addr):value\s*(?:=|ISSUBSET)\s*'([^']+)'")
_MISP_ADDRESS_TYPES = ("ip-src", "ip-dst", "ip-src|port", "ip-dst|port")
_MAX_INDICATORS = 1_000_000


def _indicator_cidr(value: str, line: int | None) -> str:
    text = value.strip()
    try:
        return (
            str(parse_cidr(text))
            if "/" in text
            else f"{parse_ip(text)}/" + ("32" if ":" not in text else "128")
        )
    except ValueError as error:
        raise ReferenceTableError(line, f"not an address or CIDR: {text!r} ({error})") from None


def _confidence(value: str, line: int) -> float | None:
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        raise ReferenceTableError(line, f"confidence must be a number, got {value!r}") from None
    if not 0 <= number <= 100:
        raise ReferenceTableError(line, f"confidence must be between 0 and 100, got {value!r}")
    return number


def detect_indicator_kind(text: str) -> str:
    """stix (a JSON bundle), misp (a MISP CSV export), csv (`ip,label,...`) or plain."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        return "stix"
    first = next((line for line in stripped.splitlines() if line.strip()), "")
    header = [field.strip().lower() for field in first.split(",")]
    if {"uuid", "type", "value"} <= set(header):
        return "misp"
    return "csv" if "," in first else "plain"


def _stix(text: str, name: str) -> list[Indicator]:
    bundle = _json(text)
    if not isinstance(bundle, dict) or bundle.get("type") != "bundle":
        raise ReferenceTableError(None, 'a STIX file must be a bundle ("type": "bundle")')
    found: list[Indicator] = []
    for item in bundle.get("objects") or []:
        if not isinstance(item, dict) or item.get("type") != "indicator":
            continue
        pattern = str(item.get("pattern") or "")
        label = str(item.get("name") or ", ".join(item.get("indicator_types") or []) or name)
        confidence = item.get("confidence")
        for _, value in _STIX_ADDRESS_RE.findall(pattern):
            found.append((
                _indicator_cidr(value, None), label[:MAX_LABEL_LENGTH],
                float(confidence) if isinstance(confidence, int | float) else None,
                str(item.get("created_by_ref") or "stix"),
            ))  # fmt: skip
    return found


def _misp(text: str) -> list[Indicator]:
    rows = list(_csv_rows(text))
    header = [value.lower() for value in rows[0][1]]
    column = {key: header.index(key) for key in header}
    found: list[Indicator] = []
    for line, fields in rows[1:]:
        kind = fields[column["type"]] if column["type"] < len(fields) else ""
        if kind not in _MISP_ADDRESS_TYPES:
            continue
        value = fields[column["value"]].split("|")[0]
        label = next((fields[column[key]] for key in ("comment", "category")
                      if key in column and column[key] < len(fields) and fields[column[key]]),
                     kind)  # fmt: skip
        event = fields[column["event_id"]] if "event_id" in column else ""
        found.append((_indicator_cidr(value, line), label[:MAX_LABEL_LENGTH], None,
                      f"MISP event {event}" if event else "MISP"))  # fmt: skip
    return found


def _indicator_csv(text: str, name: str) -> list[Indicator]:
    found: list[Indicator] = []
    for line, fields in _csv_rows(text):
        if not found and fields[0].lower() in ("ip", "cidr", "address", "indicator", "ip|cidr"):
            continue
        if len(fields) > 4:
            raise ReferenceTableError(line, "expected ip|cidr,label[,confidence,source]")
        label = fields[1] if len(fields) > 1 and fields[1] else name
        confidence = _confidence(fields[2], line) if len(fields) > 2 else None
        source = fields[3] if len(fields) > 3 else ""
        found.append((_indicator_cidr(fields[0], line), label[:MAX_LABEL_LENGTH], confidence,
                      source[:MAX_LABEL_LENGTH]))  # fmt: skip
    return found


def _plain(text: str, name: str) -> list[Indicator]:
    found: list[Indicator] = []
    for line, raw in enumerate(text.splitlines(), start=1):
        value = raw.split("#", 1)[0].strip()
        if value:
            found.append((_indicator_cidr(value, line), name, None, ""))
    return found


def parse_indicators(
    data: str | bytes, *, name: str = "indicators", kind: str = "auto"
) -> list[Indicator]:
    """An indicator list: CSV `ip|cidr,label[,confidence,source]`, a plain list (one address
    or CIDR a line, # comments, e.g. Tor exit lists), a STIX 2.1 bundle (indicators with
    ipv4-addr/ipv6-addr patterns) or a MISP CSV export (ip-src/ip-dst attributes). Entries
    without a label take `name`. Duplicates keep their first line."""
    if kind not in INDICATOR_KINDS:
        raise ReferenceTableError(
            None, f"unknown indicator kind {kind!r}; known: {', '.join(INDICATOR_KINDS)}"
        )
    text = _text(data)
    kind = detect_indicator_kind(text) if kind == "auto" else kind
    parsed = {
        "stix": lambda: _stix(text, name),
        "misp": lambda: _misp(text),
        "csv": lambda: _indicator_csv(text, name),
        "plain": lambda: _plain(text, name),
    }[kind]()
    unique: dict[str, Indicator] = {}
    for item in parsed:
        unique.setdefault(item[0], item)
    if not unique:
        raise ReferenceTableError(None, "the file holds no address indicators")
    if len(unique) > _MAX_INDICATORS:
        raise ReferenceTableError(None, f"more than {_MAX_INDICATORS:,} indicators")
    return list(unique.values())


# AS databases: which addresses belong to which autonomous system (number, organisation,
# country). Admins upload one; it is read here, checked row by row, and handed on as sorted,
# non-overlapping integer ranges (analysis.geo stores and joins them).
AS_DATABASE_FORMATS = ("ip2asn", "geolite2-asn-csv")
MAX_AS_DATABASE_TEXT = 400 * 1024 * 1024  # decompressed; ip2asn-combined.tsv is about 40 MB
_GEOLITE2_ASN_HEADER = ["network", "autonomous_system_number", "autonomous_system_organization"]
_IP2ASN_NO_COUNTRY = {"", "None", "Unknown", "ZZ"}


@dataclass(frozen=True)
class AsRange:
    """Addresses lo..hi (integers of analysis.addresses' shared space) belong to AS `asn`."""

    lo: int
    hi: int
    asn: int
    as_org: str
    country: str | None


@dataclass
class AsDatabaseFile:
    """An AS database read from a file: its format and its ranges, sorted by `lo`."""

    file_format: str
    ranges: list[AsRange]
    # When the data was made, if the file says (a gzip member's modification time).
    made: datetime | None = None


def _gunzip(data: bytes) -> tuple[bytes, datetime | None]:
    """The content of a gzip file (bounded) and its member's modification time, if set."""
    if not data.startswith(b"\x1f\x8b"):
        return data, None
    mtime = int.from_bytes(data[4:8], "little")
    made = datetime.fromtimestamp(mtime, tz=UTC) if mtime else None
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as member:
            text = member.read(MAX_AS_DATABASE_TEXT + 1)
    except (OSError, EOFError, zlib.error) as error:
        raise ReferenceTableError(None, f"not a readable gzip file ({error})") from None
    if len(text) > MAX_AS_DATABASE_TEXT:
        raise ReferenceTableError(
            None, f"the file is larger than {MAX_AS_DATABASE_TEXT:,} bytes uncompressed"
        )
    return text, made


def _as_number(value: str, line: int) -> int:
    text = value.strip().upper().removeprefix("AS")
    if not text.isdigit() or int(text) >= 2**32:
        raise ReferenceTableError(line, f"AS number must be a number below 2^32, got {value!r}")
    return int(text)


def _range_end(value: str, line: int, where: str) -> int:
    try:
        return ip_to_int(parse_ip(value))
    except ValueError as error:
        raise ReferenceTableError(line, f"{where}: {error}") from None


def _parse_ip2asn(text: str) -> list[AsRange]:
    """iptoasn.com's ip2asn-v4/-v6/-combined.tsv: range_start, range_end, AS_number,
    country_code, AS_description, tab-separated. AS 0 ("Not routed") ranges are left out."""
    ranges: list[AsRange] = []
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.startswith("#"):
            continue
        fields = raw.split("\t")
        if len(fields) != 5:
            raise ReferenceTableError(
                line,
                "expected 5 tab-separated fields (range_start, range_end, AS_number, "
                f"country_code, AS_description), found {len(fields)}",
            )
        lo = _range_end(fields[0], line, "range_start")
        hi = _range_end(fields[1], line, "range_end")
        if (":" in fields[0]) != (":" in fields[1]):
            raise ReferenceTableError(line, "range_start and range_end are of different families")
        if hi < lo:
            raise ReferenceTableError(line, "range_end is below range_start")
        number = _as_number(fields[2], line)
        country = fields[3].strip()
        if country not in _IP2ASN_NO_COUNTRY and not _COUNTRY_RE.fullmatch(country):
            raise ReferenceTableError(line, f"country must be a 2-letter code, got {country!r}")
        if number == 0:
            continue
        ranges.append(
            AsRange(
                lo,
                hi,
                number,
                fields[4].strip()[:MAX_LABEL_LENGTH],
                None if country in _IP2ASN_NO_COUNTRY else country.upper(),
            )
        )
    return ranges


def _parse_geolite2_asn(text: str) -> list[AsRange]:
    """MaxMind GeoLite2-ASN-Blocks-IPv4/IPv6.csv: network, autonomous_system_number,
    autonomous_system_organization (a header first). It has no country."""
    ranges: list[AsRange] = []
    for line, fields in _csv_rows(text):
        if not ranges and [f.lower() for f in fields] == _GEOLITE2_ASN_HEADER:
            continue
        if len(fields) != 3:
            raise ReferenceTableError(
                line,
                "expected 3 fields (network, autonomous_system_number, "
                f"autonomous_system_organization), found {len(fields)}",
            )
        try:
            lo, hi = cidr_bounds(parse_cidr(fields[0]))
        except ValueError as error:
            raise ReferenceTableError(line, str(error)) from None
        ranges.append(
            AsRange(lo, hi, _as_number(fields[1], line), fields[2][:MAX_LABEL_LENGTH], None)
        )
    return ranges


def detect_as_database_format(text: str) -> str:
    """geolite2-asn-csv by its header, ip2asn by its tabs."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    header = [field.strip().lower() for field in first.split(",")]
    if header == _GEOLITE2_ASN_HEADER:
        return "geolite2-asn-csv"
    if "\t" in first:
        return "ip2asn"
    raise ReferenceTableError(
        1,
        "neither an iptoasn.com ip2asn TSV (range_start<TAB>range_end<TAB>AS_number<TAB>"
        "country_code<TAB>AS_description) nor a GeoLite2-ASN CSV (header "
        f"{','.join(_GEOLITE2_ASN_HEADER)})",
    )


def parse_as_database(data: bytes) -> AsDatabaseFile:
    """An AS database file, optionally gzipped: iptoasn.com ip2asn TSV (v4, v6 or combined)
    or a MaxMind GeoLite2-ASN CSV. Every row is checked (a bad one raises naming its line);
    overlapping ranges are refused too, so an address has one AS."""
    raw, made = _gunzip(data)
    text = _text(raw)
    file_format = detect_as_database_format(text)
    parser = _parse_ip2asn if file_format == "ip2asn" else _parse_geolite2_asn
    ranges = sorted(parser(text), key=lambda r: r.lo)
    for before, after in pairwise(ranges):
        if after.lo <= before.hi:
            raise ReferenceTableError(
                None,
                f"ranges overlap: {int_to_ip(after.lo)} (AS{after.asn}) lies inside "
                f"{int_to_ip(before.lo)}-{int_to_ip(before.hi)} (AS{before.asn})",
            )
    if not ranges:
        raise ReferenceTableError(None, "the file holds no routed ranges")
    return AsDatabaseFile(file_format, ranges, made)
