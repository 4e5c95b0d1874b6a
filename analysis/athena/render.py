"""Analyzer SQL, written for the local DuckDB `flows` table, rendered for Athena (Trino).

There is one definition of each analysis: its `analyze_rows` issues SELECTs over `flows`.
Locally DuckDB runs them; for Athena each one is transpiled by sqlglot, its address literals
become the 32-hex-digit strings Athena's address columns hold (analysis.athena.ddl), and the
`flows` relation is put in front as a CTE over the flow log's table. Anything that would
give a different answer in Trino is refused (NotRenderable), never sent.
"""

from __future__ import annotations

import functools
from collections.abc import Collection

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from analysis.addresses import hex_address
from analysis.analyzers.base import Analyzer
from analysis.analyzers.params import AnalysisParams
from analysis.analyzers.reftables import RANGE_COLUMNS

FLOWS = "flows"
# Flow addresses, and the bounds of reference CIDR ranges (inline VALUES relations).
ADDRESS_COLUMNS = frozenset(
    {"src_ip", "dst_ip", "pkt_src_ip", "pkt_dst_ip", "logged_src_ip", "logged_dst_ip",
     *RANGE_COLUMNS}
)  # fmt: skip
MAX_QUERY_BYTES = 262_144  # Athena's limit on a query string
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
# Where an address column may appear: compared, grouped, sorted, counted, picked. Anything
# else (arithmetic, casts, other functions) would see hex text instead of a number.
_ADDRESS_PARENTS = (exp.Between, exp.In, *_COMPARISONS, exp.Alias, exp.Select, exp.Group,
                    exp.Ordered, exp.Order, exp.Count, exp.Distinct, exp.Min, exp.Max, exp.Is,
                    exp.Paren, exp.Window, exp.If, exp.Case)  # fmt: skip


class NotRenderable(ValueError):
    """The SQL cannot run in Athena with the same meaning; the reason says why."""


def local_only_reason(analyzer: Analyzer, params: AnalysisParams) -> str | None:
    """Why `analyzer` cannot run in Athena with these parameters, or None when it can."""
    return analyzer.local_only_for(params)


def _integer_literal(node: exp.Expr) -> int | None:
    """The value of an integer literal as the analyzers write them (see addresses.sql_int)."""
    if isinstance(node, exp.Literal) and not node.is_string and node.this.isdigit():
        return int(node.this)
    if (
        isinstance(node, exp.Cast)
        and node.to.is_type(exp.DataType.Type.UINT128)
        and isinstance(node.this, exp.Literal)
        and node.this.this.isdigit()
    ):
        return int(node.this.this)
    return None


def _is_address(node: exp.Expr) -> bool:
    return isinstance(node, exp.Column) and node.name in ADDRESS_COLUMNS


def _hex(node: exp.Expr) -> exp.Expr:
    value = _integer_literal(node)
    if value is None:
        return node
    return exp.Literal.string(hex_address(value))


def _value_addresses(values: exp.Values) -> list[int]:
    """Positions of a VALUES relation's address columns (by their names in its alias)."""
    alias = values.args.get("alias")
    names = [column.name for column in alias.columns] if alias is not None else []
    return [index for index, name in enumerate(names) if name in ADDRESS_COLUMNS]


def _address_literals(node: exp.Expr) -> exp.Expr:
    """Integer literals compared with an address column, or in a VALUES relation's address
    column, become hex strings."""
    if isinstance(node, exp.Values):
        positions = _value_addresses(node)
        for row in node.expressions:
            items = list(row.expressions)
            for index in positions:
                if index < len(items):
                    items[index] = _hex(items[index])
            row.set("expressions", items)
    elif isinstance(node, exp.Between) and _is_address(node.this):
        node.set("low", _hex(node.args["low"]))
        node.set("high", _hex(node.args["high"]))
    elif isinstance(node, exp.In) and _is_address(node.this):
        node.set("expressions", [_hex(item) for item in node.expressions])
    elif isinstance(node, _COMPARISONS):
        if _is_address(node.left):
            node.set("expression", _hex(node.right))
        elif _is_address(node.right):
            node.set("this", _hex(node.left))
    return node


def _check(tree: exp.Expr) -> None:
    """Refuse SQL whose meaning would change with hex addresses or without local tables."""
    for values in tree.find_all(exp.Values):
        positions = _value_addresses(values)
        for row in values.expressions:
            for index in positions:
                item = row.expressions[index]
                if not (isinstance(item, exp.Literal) and item.is_string) and not isinstance(
                    item, exp.Null
                ):
                    raise NotRenderable(
                        f"its VALUES holds {item.sql(dialect='duckdb')} as an address"
                    )
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        if table.name != FLOWS and table.name not in ctes:
            raise NotRenderable(f"it reads {table.name!r}, a table only the local engine has")
    for cast in tree.find_all(exp.Cast):
        if cast.to.is_type(exp.DataType.Type.UINT128, exp.DataType.Type.INT128):
            raise NotRenderable("it uses a 128-bit integer, which Trino does not have")
    for column in tree.find_all(exp.Column):
        if not _is_address(column):
            continue
        parent = column.parent
        if not isinstance(parent, _ADDRESS_PARENTS):
            where = parent.sql(dialect="duckdb") if parent is not None else "?"
            raise NotRenderable(f"it uses the address column {column.name} in {where}")
        others: list[exp.Expr] = []
        if isinstance(parent, exp.Between) and parent.this is column:
            others = [parent.args["low"], parent.args["high"]]
        elif isinstance(parent, exp.In) and parent.this is column:
            others = list(parent.expressions)
        elif isinstance(parent, _COMPARISONS):
            others = [parent.right if parent.left is column else parent.left]
        for other in others:
            # After the rewrite only hex strings and other addresses are comparable.
            if not (
                (isinstance(other, exp.Literal) and other.is_string)
                or _is_address(other)
                or isinstance(other, exp.Null)
            ):
                raise NotRenderable(
                    f"it compares {column.name} with {other.sql(dialect='duckdb')}, "
                    "which is not an address"
                )


@functools.lru_cache(maxsize=512)
def to_trino(sql: str) -> str:
    """Analyzer SQL (DuckDB dialect, over `flows`) as Trino SQL over hex address columns.

    The translation depends on the text alone, and sqlglot takes 20 to 60 ms to parse and write
    one detection query: a worker renders the same texts again for every later run with the
    same parameters (and the pushdown tests for every format and window), so each distinct
    text is translated once per process (a refusal, NotRenderable, is not kept)."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except SqlglotError as error:
        raise NotRenderable(f"sqlglot cannot read it: {error}") from error
    tree = tree.transform(_address_literals)
    _check(tree)
    # A WITH at the top is merged with the one defining `flows`; anywhere else it is not.
    top = tree.args.get("with_") or tree.args.get("with")
    if any(found is not top for found in tree.find_all(exp.With)):
        raise NotRenderable("it has a WITH clause below the top level")
    if top is not None and top.args.get("recursive"):
        raise NotRenderable("it has a recursive WITH clause")
    try:
        return tree.sql(dialect="trino", unsupported_level=sqlglot.ErrorLevel.RAISE)
    except SqlglotError as error:
        raise NotRenderable(f"sqlglot cannot write it for Trino: {error}") from error


def with_flows(trino_sql: str, flows_sql: str) -> str:
    """The query with `flows` defined in front of it (see AthenaTable.flows_sql), as the
    first of its named subqueries when it has its own WITH."""
    indented = "\n".join("  " + line for line in flows_sql.splitlines())
    query = trino_sql.lstrip()
    if query[:5].upper() == "WITH ":
        return f"WITH {FLOWS} AS (\n{indented}\n),\n{query[5:]}"
    return f"WITH {FLOWS} AS (\n{indented}\n)\n{trino_sql}"


def render(sql: str, flows_sql: str) -> str:
    """One analyzer query, ready for Athena."""
    rendered = with_flows(to_trino(sql), flows_sql)
    size = len(rendered.encode())
    if size > MAX_QUERY_BYTES:
        raise NotRenderable(f"it is {size:,} bytes, more than Athena's {MAX_QUERY_BYTES:,}")
    return rendered


def rendered_queries(
    analyzer: Analyzer, params: AnalysisParams, columns: Collection[str], flows_sql: str
) -> list[str]:
    """The Athena SQL of `analyzer`: the queries it issues when each one returns no rows
    (queries that depend on earlier rows, like time-series bins, are not listed)."""
    reason = local_only_reason(analyzer, params)
    if reason is not None:
        raise NotRenderable(f"analysis {analyzer.name!r} runs only locally: {reason}")
    queries: list[str] = []

    def record(sql: str) -> list[tuple[object, ...]]:
        queries.append(render(sql, flows_sql))
        return []

    analyzer.analyze_rows(record, params, columns)
    return queries
