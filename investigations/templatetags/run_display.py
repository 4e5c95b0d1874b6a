"""How a run's outcome reads on a page: a run that succeeded over no record is not a success."""

from __future__ import annotations

from typing import Any

from django import template

from investigations.runsummary import no_data_reason as reason_of

register = template.Library()


@register.filter
def no_data_reason(run: Any) -> str:
    """Why the run analysed no record ("" when it analysed some)."""
    return reason_of(run) or ""
