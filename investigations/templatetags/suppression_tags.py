"""The suppression rules a run applied, for the run page's "suppressed by rule …" section."""

from __future__ import annotations

from typing import Any

from django import template

from investigations.models import QueryRun
from investigations.suppressions import applied_rules as _applied_rules

register = template.Library()


@register.simple_tag
def applied_rules(run: QueryRun) -> list[dict[str, Any]]:
    """The rules the run recorded as applied, each with the findings it suppressed."""
    return _applied_rules(run)
