"""Template filters that turn addresses into links to their entity page and render finding
evidence and result cells as readable text (ports without thousands separators)."""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime
from typing import Any

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma
from django.urls import reverse
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString

register = template.Library()

# Candidates only: every match is checked with `ipaddress` before it becomes a link.
_ADDRESS = re.compile(
    # IPv4, also before a sentence's full stop or a ":port", never inside a longer dotted run
    # or as the network of a CIDR block
    r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?!\.\d|\w|/\d)"
    # IPv6 (compressed or not), never inside a longer word or a CIDR block
    r"|(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:]|/\d)"
)

# Columns and evidence keys holding port numbers: shown as 22 and 3389, never 3,389.
PORT_NAMES = {
    "port",
    "ports",
    "srcport",
    "dstport",
    "src_port",
    "dst_port",
    "open_ports",
    "distinct_ports_list",
    "service_port",
}


def is_port_name(name: str) -> bool:
    name = (name or "").lower()
    return name in PORT_NAMES or name.endswith("port") or name.endswith("_ports")


def canonical_address(text: str) -> str | None:
    """The address in its canonical form, or None when `text` is not one."""
    try:
        return str(ipaddress.ip_address(str(text).strip()))
    except ValueError:
        return None


def entity_url(address: str) -> str:
    return reverse("entity_detail", args=[address])


def _join(separator: str, parts: Any) -> SafeString:
    return format_html_join(separator, "{}", ((part,) for part in parts))


def _link(address: str) -> SafeString:
    canonical = canonical_address(address)
    if canonical is None:
        return escape(address)
    return format_html('<a class="entity" href="{}">{}</a>', entity_url(canonical), address)


@register.filter
def ip_links(value: Any) -> SafeString:
    """Text with every IP address in it linked to the address's entity page."""
    if value is None:
        return escape("")
    if isinstance(value, list | tuple):
        return _join(", ", (ip_links(item) for item in value))
    text = str(value)
    out: list[SafeString] = []
    last = 0
    for match in _ADDRESS.finditer(text):
        out.append(escape(text[last : match.start()]))
        out.append(_link(match.group(0)))
        last = match.end()
    out.append(escape(text[last:]))
    return _join("", out)


@register.filter
def entity_link(value: Any) -> SafeString:
    """One address as a link (anything else as plain text)."""
    return _link(str(value)) if value not in (None, "") else escape("")


# An ISO 8601 timestamp with an offset, as stored results and evidence hold them.
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})")


def _timestamp(text: str) -> SafeString | None:
    """A stored timestamp in the site's one format (`2026-12-03 14:05:09 UTC`), or None."""
    if not _TIMESTAMP.fullmatch(text):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None
    return format_html(
        '<time datetime="{}">{}</time>', text, moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    )


def format_value(value: Any, name: str = "") -> SafeString:
    if value is None:
        return escape("—")
    if isinstance(value, str) and (moment := _timestamp(value)) is not None:
        return moment
    if isinstance(value, bool):
        return escape("yes" if value else "no")
    if isinstance(value, int | float):
        return escape(str(value) if is_port_name(name) else intcomma(value))
    if isinstance(value, list | tuple):
        if not value:
            return escape("—")
        return _join(", ", (format_value(item, name) for item in value))
    if isinstance(value, dict):
        return _join(
            "; ",
            (
                format_html("{}: {}", key, format_value(item, str(key)))
                for key, item in value.items()
            ),
        )
    return ip_links(value)


@register.filter
def cell(value: Any, column: str) -> SafeString:
    """A result-table cell: numbers with separators except ports, addresses as links."""
    return format_value(value, column)


@register.filter
def evidence_rows(evidence: Any) -> list[tuple[str, SafeString]]:
    """A finding's evidence as (label, rendered value) pairs, in the order the detection gave."""
    if not isinstance(evidence, dict):
        return [("evidence", format_value(evidence))] if evidence else []
    return [
        (str(key).replace("_", " "), format_value(value, str(key)))
        for key, value in evidence.items()
    ]
