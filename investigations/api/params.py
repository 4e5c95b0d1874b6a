"""Query parameters the list endpoints share: an id filter is an id (`investigations.ids`) or a
400 that names the parameter."""

from __future__ import annotations

from collections.abc import Mapping

from rest_framework import serializers

from investigations.ids import parse_id


def id_param(
    params: Mapping[str, str], name: str, *, message: str = "An integer id."
) -> int | None:
    """The id in query parameter `name`; None when it is absent or empty."""
    value = params.get(name, "")
    if not value:
        return None
    number = parse_id(value)
    if number is None:
        raise serializers.ValidationError({name: message})
    return number
