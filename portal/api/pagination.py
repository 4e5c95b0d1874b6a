"""Paging of every `/api/v1` list: `?page=` and `?page_size=` (1 to MAX_PAGE_SIZE; default
settings.REST_FRAMEWORK["PAGE_SIZE"])."""

from __future__ import annotations

from rest_framework.pagination import PageNumberPagination

MAX_PAGE_SIZE = 1000


class PortalPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
