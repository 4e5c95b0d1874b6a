"""A stored result as a table: every row sorted by any column in the database, paged, with the
links its headers and pager need."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.core.paginator import Page, Paginator
from django.db import NotSupportedError
from django.db.models import F, FloatField, Func, OrderBy, QuerySet, TextField
from django.urls import reverse

from analysis.analyzers.result import MEASURE_COLUMNS
from investigations.models import QueryRun, RunResult

RESULT_PAGE_SIZE = 50
# The run page shows each analysis collapsed to its first rows; its pager pages on at this size.
FIRST_ROWS = 10
PAGE_SIZES = (FIRST_ROWS, RESULT_PAGE_SIZE)


class _JsonMember(Func):
    """One member of a JSON object column as a plain SQL value, the same on SQLite and
    PostgreSQL (Django's key transforms give SQLite's JSON null as the text 'null')."""

    def __init__(self, field: str, key: str) -> None:
        super().__init__(F(field))
        self.key = key

    def _parts(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        sql, params = compiler.compile(self.source_expressions[0])
        return sql, list(params)

    def as_sql(
        self,
        compiler: Any,
        connection: Any,
        function: str | None = None,
        template: str | None = None,
        arg_joiner: str | None = None,
        **extra_context: Any,
    ) -> tuple[str, tuple[Any, ...]]:
        raise NotSupportedError("Sorting result rows needs SQLite or PostgreSQL.")


def _json_path(key: str) -> str:
    """SQLite's JSON path to a member, quoted so any name is taken literally."""
    return "$." + json.dumps(key)


class JsonNumber(_JsonMember):
    """The member as a number; NULL when it is absent, null or not a number."""

    output_field = FloatField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        lhs, params = self._parts(compiler, connection)
        path = _json_path(self.key)
        sql = (
            f"(CASE WHEN JSON_TYPE({lhs}, %s) IN ('integer', 'real') "
            f"THEN JSON_EXTRACT({lhs}, %s) END)"
        )
        return sql, (*params, path, *params, path)

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        lhs, params = self._parts(compiler, connection)
        sql = (
            f"(CASE WHEN jsonb_typeof({lhs} -> %s) = 'number' "
            f"THEN ({lhs} ->> %s)::double precision END)"
        )
        return sql, (*params, self.key, *params, self.key)


class JsonText(_JsonMember):
    """The member as text; NULL when it is absent or null."""

    output_field = TextField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        lhs, params = self._parts(compiler, connection)
        return f"CAST(JSON_EXTRACT({lhs}, %s) AS TEXT)", (*params, _json_path(self.key))

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        lhs, params = self._parts(compiler, connection)
        return f"({lhs} ->> %s)", (*params, self.key)


@dataclass(frozen=True)
class ResultSort:
    """Rows ordered by one column; `param` is how it reads in a URL (`bytes`, `-bytes`)."""

    column: str
    descending: bool = False

    @property
    def param(self) -> str:
        return f"-{self.column}" if self.descending else self.column

    @property
    def direction(self) -> str:
        return "descending" if self.descending else "ascending"


def parse_sort(result: RunResult, value: str | None) -> ResultSort | None:
    """The sort a URL asks for, or None (rank order) when it names no column of this result."""
    text = (value or "").strip()
    descending = text.startswith("-")
    column = text[1:] if descending else text
    if column not in (result.columns or []):
        return None
    return ResultSort(column, descending)


def sort_terms(column: str, *, descending: bool) -> list[OrderBy]:
    """ORDER BY terms for a column of `ResultRow.data`: numbers by value (9 before 10), then
    text, with absent and null values last in either direction."""
    terms = []
    for value in (JsonNumber("data", column), JsonText("data", column)):
        terms.append(value.desc(nulls_last=True) if descending else value.asc(nulls_last=True))
    return terms


def sorted_rows(
    result: RunResult, sort: ResultSort | None, address: str | None = None
) -> QuerySet[Any]:
    """Every stored row of the result (or those naming `address`), as plain dicts, in rank
    order or sorted; the stored rank breaks ties so the order is stable across pages."""
    from investigations.entities import rows_mentioning

    rows = result.rows.all()
    if address:
        rows = rows_mentioning(rows, address)
    if sort is not None:
        rows = rows.order_by(*sort_terms(sort.column, descending=sort.descending), "position")
    else:
        rows = rows.order_by("position")
    return rows.values_list("data", flat=True)


@dataclass(frozen=True)
class Header:
    column: str
    numeric: bool
    aria_sort: str | None
    url: str
    hint: str


@dataclass
class ResultTable:
    """One page of a result, sorted or not, with the URLs of its headers and pager.

    Links point at the result's own page (`?sort=&page=`), which answers htmx with just the
    table; the run page keeps each table's state in its own query as `<analysis>.sort` and
    `<analysis>.page` (result-tables.js writes them back to the address bar).
    """

    run: QueryRun
    result: RunResult
    page: Page[Any]
    sort: ResultSort | None
    address: str | None = None
    page_size: int = RESULT_PAGE_SIZE

    @property
    def base_url(self) -> str:
        return reverse("investigations:run_result", args=[self.run.pk, self.result.analysis])

    def url(self, *, sort: ResultSort | None, page: int | None = None) -> str:
        query: dict[str, Any] = {}
        if self.address:
            query["ip"] = self.address
        if self.page_size != RESULT_PAGE_SIZE:
            query["size"] = self.page_size
        if sort is not None:
            query["sort"] = sort.param
        if page is not None and page > 1:
            query["page"] = page
        return f"{self.base_url}?{urlencode(query)}" if query else self.base_url

    @property
    def headers(self) -> list[Header]:
        headers = []
        for column in self.result.columns:
            numeric = column in MEASURE_COLUMNS
            current = self.sort is not None and self.sort.column == column
            if current:
                assert self.sort is not None
                following = ResultSort(column, not self.sort.descending)
            else:
                # Measures start with the largest, everything else from A (or the lowest).
                following = ResultSort(column, numeric)
            hint = (
                f"Sort by {column}, {'largest first' if following.descending else 'smallest first'}"
                if numeric
                else f"Sort by {column}, {'Z to A' if following.descending else 'A to Z'}"
            )
            headers.append(
                Header(
                    column=column,
                    numeric=numeric,
                    aria_sort=self.sort.direction if current and self.sort else None,
                    url=self.url(sort=following),
                    hint=hint,
                )
            )
        return headers

    @property
    def previous_url(self) -> str | None:
        if not self.page.has_previous():
            return None
        return self.url(sort=self.sort, page=self.page.previous_page_number())

    @property
    def next_url(self) -> str | None:
        if not self.page.has_next():
            return None
        return self.url(sort=self.sort, page=self.page.next_page_number())

    @property
    def rank_url(self) -> str:
        """Back to the analysis's own ranking."""
        return self.url(sort=None)

    @property
    def sort_param(self) -> str:
        return self.sort.param if self.sort else ""


def page_size(value: Any) -> int:
    """The `size` of a URL: one of PAGE_SIZES, else the default."""
    try:
        size = int(value)
    except (TypeError, ValueError):
        return RESULT_PAGE_SIZE
    return size if size in PAGE_SIZES else RESULT_PAGE_SIZE


def result_table(
    run: QueryRun,
    result: RunResult,
    *,
    sort: str | None = None,
    page: str | int | None = None,
    address: str | None = None,
    size: int = RESULT_PAGE_SIZE,
) -> ResultTable:
    """The page `page` of `result` sorted as `sort` asks (both as found in a URL), only the
    rows naming `address` when one is given (a canonical address)."""
    chosen = parse_sort(result, sort)
    rows = sorted_rows(result, chosen, address)
    return ResultTable(
        run=run,
        result=result,
        page=Paginator(rows, size).get_page(page),
        sort=chosen,
        address=address,
        page_size=size,
    )
