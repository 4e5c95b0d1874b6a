"""Small template filters for rendering result rows (dict lookup, number detection)."""

from typing import Any

from django import template
from django.conf import settings

from analysis import geo
from analysis.analyzers.result import MEASURE_COLUMNS

register = template.Library()


@register.filter
def get_item(mapping: Any, key: str) -> Any:
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def is_measure(column: str) -> bool:
    """Columns holding counts or volumes are right-aligned like their numbers."""
    return column in MEASURE_COLUMNS


@register.filter
def annotation_of(value: Any, annotations: Any) -> str:
    """A short label for an address shown in a table: alias, organisation or network kind."""
    if not isinstance(value, str) or not isinstance(annotations, dict):
        return ""
    info = annotations.get(value)
    if not isinstance(info, dict):
        return ""
    autonomous = as_text(info)
    name = info.get("org") or info.get("label")
    if autonomous and name == "unknown":  # the AS says more than an unanswered WHOIS
        name = None
    parts = [info.get("alias"), name, autonomous, info.get("country")]
    # A known host's label is its alias: say it once.
    text = " · ".join(dict.fromkeys(str(p) for p in parts if p))
    return text or str(info.get("kind") or "")


@register.simple_tag
def geo_source_of(tables: Any) -> str:
    """The offline country/AS data's name and date when any shown address carries its labels
    (so a page without them never loads the data), else ""; an uploaded AS database that
    placed some of them is named first."""
    if not settings.GEO_ENABLED:
        return ""
    placed = False
    uploaded: dict[str, None] = {}
    for table in tables or ():
        notes = getattr(getattr(table, "result", None), "annotations", None) or {}
        for note in notes.values():
            if isinstance(note, dict) and note.get("as_org"):
                placed = True
                if note.get("as_source"):
                    uploaded[str(note["as_source"])] = None
    if not placed:
        return ""
    return " and ".join([*uploaded, geo.source().describe()])


def as_text(info: dict[str, Any]) -> str:
    """`AS15169 GOOGLE`, the organisation alone when the data has no number, or ""."""
    number, org = info.get("asn"), info.get("as_org")
    return " ".join(str(part) for part in (f"AS{number}" if number else None, org) if part)


@register.filter
def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@register.filter
def utc(value: Any, precision: str = "seconds") -> str:
    """The one timestamp format of the site: `2026-12-03 14:05:09 UTC` (minutes on request)."""
    from datetime import UTC, datetime

    if value in (None, ""):
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if not isinstance(value, datetime):
        return str(value)
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime(
        "%Y-%m-%d %H:%M UTC" if precision == "minutes" else "%Y-%m-%d %H:%M:%S UTC"
    )
