"""Small template filters for rendering result rows (dict lookup, number detection)."""

from typing import Any

from django import template

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
    parts = [info.get("alias"), info.get("org") or info.get("label"), info.get("country")]
    text = " · ".join(str(p) for p in parts if p)
    return text or str(info.get("kind") or "")


@register.filter
def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
