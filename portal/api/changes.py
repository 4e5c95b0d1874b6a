"""Change feeds: `GET <resource>/changes/?cursor=` returns every change exactly once, in commit
order, with a `next_cursor` to poll with next (see portal.sequences for why it holds)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from portal.sequences import decode_cursor, encode_cursor

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def change_page_serializer(
    name: str, serializer_class: type[serializers.Serializer]
) -> serializers.Serializer:
    """Documents a change-feed page of one resource: `results` typed as that resource."""
    return inline_serializer(
        name,
        fields={
            "results": serializer_class(many=True),
            "next_cursor": serializers.CharField(help_text="Give it as `cursor` in the next poll."),
            "has_more": serializers.BooleanField(),
        },
    )


def change_feed(
    queryset: QuerySet[Any],
    request: Request,
    serializer_class: type[serializers.Serializer],
    context: dict[str, Any],
) -> Response:
    cursor = request.query_params.get("cursor", "0.0")
    try:
        number, pk = decode_cursor(cursor)
        limit = int(request.query_params.get("limit", DEFAULT_LIMIT))
    except ValueError as exc:
        raise serializers.ValidationError({"detail": str(exc)}) from exc
    limit = max(1, min(MAX_LIMIT, limit))
    page = list(
        queryset.filter(change_number__gt=0)
        .filter(Q(change_number__gt=number) | Q(change_number=number, pk__gt=pk))
        .order_by("change_number", "pk")[: limit + 1]
    )
    has_more = len(page) > limit
    page = page[:limit]
    next_cursor = encode_cursor(page[-1].change_number, page[-1].pk) if page else cursor
    return Response(
        {
            "results": serializer_class(page, many=True, context=context).data,
            "next_cursor": next_cursor,
            "has_more": has_more,
        }
    )
