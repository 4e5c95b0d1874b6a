"""DuckDB SQL that reads raw flow log lines and turns them into typed, classified rows.

This is loading SQL, so it may use DuckDB-only features (read_csv options, macros, UHUGEINT);
analyzer SQL must not. Each line of a file becomes one row of `_parsed` with:
`line_no` (1-based physical line), `status` (header, blank, malformed, filtered, nodata,
skipdata, ok), `reason` and `sample` for malformed lines, one typed column per field of the
format, and the derived columns (src_ip, dst_ip, src_family, dst_family).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from analysis.addresses import IPV4_MAPPED_BASE
from analysis.formats import FieldKind, FlowField, FlowFormat
from analysis.window import TimeWindow

# A line is read whole as one VARCHAR: the "delimiter" is a 4-byte run of control bytes that
# text never contains (were it to occur, the reader would drop the rest of that line). A second
# column would catch that case but makes DuckDB skip empty lines, which breaks line numbers.
# latin-1 maps every byte to a character, so NUL bytes and invalid UTF-8 cannot fail a read.
MAX_LINE_BYTES = 8 * 1024 * 1024
READ_BUFFER_BYTES = 4 * MAX_LINE_BYTES
# analysis.sanitize ends a line it had to cut with this mark (SUB + text).
TOO_LONG_MARK = "\x1a[line too long]"
SAMPLE_CHARS = 200

_H = "[0-9a-f]{1,4}"
_IPV6_RE = "|".join(
    [
        rf"({_H}:){{7}}{_H}",
        rf"({_H}:){{1,7}}:",
        rf"({_H}:){{1,6}}:{_H}",
        rf"({_H}:){{1,5}}(:{_H}){{1,2}}",
        rf"({_H}:){{1,4}}(:{_H}){{1,3}}",
        rf"({_H}:){{1,3}}(:{_H}){{1,4}}",
        rf"({_H}:){{1,2}}(:{_H}){{1,5}}",
        rf"{_H}:(:{_H}){{1,6}}",
        rf":((:{_H}){{1,7}}|:)",
    ]
)

# Address text -> the shared 128-bit integer space of analysis.addresses (NULL if invalid).
# Written without lambdas so it runs on every DuckDB release the project allows.
MACROS_SQL = f"""
CREATE OR REPLACE TEMP MACRO flowlog_ipv4_of(p) AS (
  CASE WHEN len(p) = 4 THEN
    CAST(281470681743360
         + CAST(TRY_CAST(p[1] AS UTINYINT) AS BIGINT) * 16777216
         + CAST(TRY_CAST(p[2] AS UTINYINT) AS BIGINT) * 65536
         + CAST(TRY_CAST(p[3] AS UTINYINT) AS BIGINT) * 256
         + CAST(TRY_CAST(p[4] AS UTINYINT) AS BIGINT) AS UHUGEINT)
  END
);
CREATE OR REPLACE TEMP MACRO flowlog_ipv4_int(s) AS (
  CASE WHEN regexp_full_match(s, '[0-9.]{{7,15}}') THEN flowlog_ipv4_of(string_split(s, '.')) END
);
CREATE OR REPLACE TEMP MACRO flowlog_v6_groups(t) AS (
  CASE WHEN t = '' THEN 0 ELSE length(t) - length(replace(t, ':', '')) + 1 END
);
CREATE OR REPLACE TEMP MACRO flowlog_v6_pad(t) AS (
  replace(regexp_replace(regexp_replace(t, '([0-9a-f]+)', '000\\1', 'g'),
                         '0*([0-9a-f]{{4}})', '\\1', 'g'), ':', '')
);
CREATE OR REPLACE TEMP MACRO flowlog_v6_hex_of(l, r) AS (
  flowlog_v6_pad(l)
  || repeat('0', 32 - 4 * (flowlog_v6_groups(l) + flowlog_v6_groups(r)))
  || flowlog_v6_pad(r)
);
CREATE OR REPLACE TEMP MACRO flowlog_v6_hex(s) AS (
  -- Without a '::', split_part gives the whole text and then ''.
  CASE WHEN regexp_full_match(s, '{_IPV6_RE}') THEN
    flowlog_v6_hex_of(split_part(s, '::', 1), split_part(s, '::', 2))
  END
);
CREATE OR REPLACE TEMP MACRO flowlog_hex_int(h) AS (
  CAST('0x' || h AS UHUGEINT)
);
CREATE OR REPLACE TEMP MACRO flowlog_ip_int(s) AS (
  CASE WHEN s IS NULL THEN NULL
       WHEN strpos(s, ':') > 0 THEN flowlog_hex_int(flowlog_v6_hex(lower(s)))
       ELSE flowlog_ipv4_int(s)
  END
);
"""

DERIVED_COLUMNS: dict[str, str] = {
    "src_ip": "UHUGEINT",
    "dst_ip": "UHUGEINT",
    "src_family": "TINYINT",
    "dst_family": "TINYINT",
    "start_ts": "TIMESTAMP",
    "end_ts": "TIMESTAMP",
}

# pkt-srcaddr/pkt-dstaddr as integers, next to their text (the analyses match targets and
# tell internal from external on them).
PACKET_ADDRESS_COLUMNS: dict[str, str] = {"pkt-srcaddr": "pkt_src_ip", "pkt-dstaddr": "pkt_dst_ip"}

# Flow times beyond year 9999 cannot become timestamps: such a line is malformed.
_MAX_EPOCH = 253402300799
# A start or end beyond that is in milliseconds (from 1978 on; seconds would be past year
# 9999): the exact parser reads it as seconds, up to the same year 9999 in milliseconds.
_MAX_EPOCH_MILLIS = _MAX_EPOCH * 1000 + 999
TIME_FIELDS = ("start", "end")


def sql_string(value: str) -> str:
    """A single-quoted SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class ParsePlan:
    """Everything the parse query needs to know about one file."""

    path: str
    compression: str  # "gzip" or "none"
    flow_format: FlowFormat
    header_line: str | None
    window: TimeWindow | None
    # SQL giving (line_no, line) rows instead of reading `path` as text (Parquet rows).
    lines_sql: str | None = None


def read_lines_sql(path: str, compression: str) -> str:
    """Rows (line_no, line) for every physical line of the file, in file order.

    The reader also ends a line at a lone CR: files holding CRs are read from a sanitized copy.
    """
    return f"""
SELECT row_number() OVER () AS line_no, line
FROM read_csv({sql_string(path)},
    columns = {{'line': 'VARCHAR'}},
    delim = chr(1) || chr(2) || chr(30) || chr(31), quote = '', escape = '',
    header = false, auto_detect = false,
    strict_mode = false, encoding = 'latin-1',
    max_line_size = {MAX_LINE_BYTES}, buffer_size = {READ_BUFFER_BYTES},
    compression = {sql_string(compression)})
"""


# The shape each kind of field must have. One regex over the whole line checks them all at
# once (cheap); the per-field tests below only run on lines that fail it, to name the reason.
_FIELD_SHAPES: dict[FieldKind, str] = {
    FieldKind.INTEGER: "-|[0-9]{1,19}",
    FieldKind.ADDRESS: "-|[0-9A-Fa-f:.]{2,39}",
    FieldKind.ACTION: "ACCEPT|REJECT|-",
    FieldKind.LOG_STATUS: "OK|NODATA|SKIPDATA",
    FieldKind.TEXT: "[\\x21-\\x7E]+",
}


def line_shape_regex(fmt: FlowFormat) -> str:
    """A regex a well-formed line of `fmt` matches in full (RE2 syntax)."""
    return " ".join(f"({_FIELD_SHAPES[field.kind]})" for field in fmt)


def looks_like_record(line: str, fmt: FlowFormat) -> bool:
    """True when `line` reads as a record of `fmt`, if perhaps a bad one: its number of
    fields, and at least half of them shaped as their kind (a record of another format, or
    text that is no flow log, is not)."""
    values = line.split()
    if len(values) != len(fmt):
        return False
    shaped = sum(
        re.fullmatch(_FIELD_SHAPES[field.kind], value) is not None
        for field, value in zip(fmt, values, strict=True)
    )
    return 2 * shaped >= len(values)


def _typed_value(field: FlowField, text: str) -> str:
    if field.name in TIME_FIELDS:
        number = f"TRY_CAST({text} AS BIGINT)"
        return f"CASE WHEN {number} > {_MAX_EPOCH} THEN {number} // 1000 ELSE {number} END"
    if field.kind is FieldKind.INTEGER:
        return f"TRY_CAST({text} AS BIGINT)"
    if field.kind is FieldKind.ADDRESS:
        return f"ip_{field.column}.ip"
    return f"NULLIF({text}, '-')"


def _shape_problem(field: FlowField, text: str) -> str:
    """SQL true when the field's text does not have the shape of its kind."""
    return f"NOT regexp_full_match({text}, '{_FIELD_SHAPES[field.kind]}')"


def _value_problem(field: FlowField, text: str, value: str) -> str | None:
    """SQL true when a well-shaped field still has an unusable value (range, address)."""
    if field.name in TIME_FIELDS:
        number = f"TRY_CAST({text} AS BIGINT)"
        return f"({text} <> '-' AND ({number} IS NULL OR {number} > {_MAX_EPOCH_MILLIS}))"
    if field.kind is FieldKind.INTEGER:
        range_check = f" OR {value} > {field.maximum}" if field.maximum is not None else ""
        return f"({text} <> '-' AND ({value} IS NULL{range_check}))"
    if field.kind is FieldKind.ADDRESS:
        return f"({text} <> '-' AND {value} IS NULL)"
    return None


def parse_sql(plan: ParsePlan) -> str:
    """SELECT producing one classified row per line of the planned file."""
    fmt = plan.flow_format
    count = len(fmt)
    texts = {field.name: f"t_{field.column}" for field in fmt}
    text_cols = [f"f[{index + 1}] AS t_{field.column}" for index, field in enumerate(fmt)]
    typed_cols: list[str] = []
    shape_checks: list[str] = []
    value_checks: list[str] = []
    for field in fmt:
        text = texts[field.name]
        value = f"v_{field.column}"
        typed_cols.append(f"{_typed_value(field, text)} AS {value}")
        shown = f"'bad {field.name}: ' || left({text}, 40)"
        shape_checks.append(f"WHEN {_shape_problem(field, text)} THEN {shown}")
        problem = _value_problem(field, text, value)
        if problem is not None:
            value_checks.append(f"WHEN {problem} THEN {shown}")
    if fmt.has("start") and fmt.has("end"):
        value_checks.append("WHEN v_start > v_end THEN 'start is after end'")

    # Addresses repeat a lot: convert each distinct text once, then join it back.
    addresses = [field for field in fmt if field.kind is FieldKind.ADDRESS]
    address_joins = "".join(
        f"\n    LEFT JOIN address_ints AS ip_{field.column} "
        f"ON ip_{field.column}.a = texts.t_{field.column}"
        for field in addresses
    )
    address_texts = (
        " UNION ALL ".join(f"SELECT t_{field.column} AS a FROM texts" for field in addresses)
        or "SELECT CAST(NULL AS VARCHAR) AS a"
    )

    header_test = "FALSE"
    if plan.header_line is not None:
        header_test = f"trimmed = {sql_string(plan.header_line)}"

    window_test = "FALSE"
    window = plan.window
    if window is not None and fmt.has("start") and fmt.has("end"):
        terms = []
        if window.start_epoch is not None:
            terms.append(f"v_end < {window.start_epoch}")
        if window.end_epoch is not None:
            terms.append(f"v_start > {window.end_epoch}")
        if terms:
            window_test = "(" + " OR ".join(terms) + ")"

    status_text = texts.get("log-status")
    status_case = "'ok'"
    if status_text is not None:
        status_case = (
            f"CASE {status_text} WHEN 'NODATA' THEN 'nodata' "
            f"WHEN 'SKIPDATA' THEN 'skipdata' ELSE 'ok' END"
        )

    out_cols: list[str] = []
    for field in fmt:
        value = f"v_{field.column}"
        if field.kind is FieldKind.ADDRESS:
            out_cols.append(f"NULLIF({texts[field.name]}, '-') AS {quote_ident(field.column)}")
            if field.name == "srcaddr":
                out_cols.append(f"{value} AS src_ip")
            elif field.name == "dstaddr":
                out_cols.append(f"{value} AS dst_ip")
            elif field.name in PACKET_ADDRESS_COLUMNS:
                out_cols.append(f"{value} AS {PACKET_ADDRESS_COLUMNS[field.name]}")
        elif field.kind is FieldKind.INTEGER:
            out_cols.append(f"TRY_CAST({value} AS {field.sql_type}) AS {quote_ident(field.column)}")
        else:
            out_cols.append(f"{value} AS {quote_ident(field.column)}")
    for addr, family in (("srcaddr", "src_family"), ("dstaddr", "dst_family")):
        if addr in texts:
            out_cols.append(
                f"CAST(CASE WHEN v_{addr} IS NULL THEN NULL "
                f"WHEN strpos({texts[addr]}, ':') > 0 THEN 6 ELSE 4 END AS TINYINT) AS {family}"
            )
    times = [texts[name] for name in TIME_FIELDS if name in texts]
    if times:
        # Which records gave a time in milliseconds (the loader says how many).
        millis = " OR ".join(f"TRY_CAST({text} AS BIGINT) > {_MAX_EPOCH}" for text in times)
        out_cols.append(f"coalesce({millis}, FALSE) AS millis")

    return f"""
WITH raw AS NOT MATERIALIZED ({plan.lines_sql or read_lines_sql(plan.path, plan.compression)}),
split AS (
    -- trim() is costly, and AWS lines have no surrounding blanks: trim only when needed.
    SELECT line_no, line,
        CASE WHEN prefix(line, ' ') OR suffix(line, ' ') OR suffix(line, chr(13))
                OR prefix(line, chr(9)) OR suffix(line, chr(9))
            THEN trim(line, ' ' || chr(9) || chr(13)) ELSE line END AS trimmed
    FROM raw
),
fields AS (
    SELECT *, string_split(trimmed, ' ') AS f FROM split
),
texts AS MATERIALIZED (
    SELECT line_no, line, trimmed, len(f) AS field_count, {", ".join(text_cols)} FROM fields
),
address_ints AS (
    SELECT a, flowlog_ip_int(a) AS ip
    FROM (SELECT DISTINCT a FROM ({address_texts}) AS all_addresses) AS distinct_addresses
    WHERE a <> '-'
),
typed AS (
    SELECT texts.*, {", ".join(typed_cols)}
    FROM texts{address_joins}
),
checked AS (
    SELECT *,
        CASE
            WHEN line IS NULL OR trimmed = '' THEN 'empty line'
            WHEN NOT regexp_full_match(trimmed, {sql_string(line_shape_regex(fmt))}) THEN
                CASE
                    WHEN suffix(line, {sql_string(TOO_LONG_MARK)})
                        THEN 'line too long (over {MAX_LINE_BYTES // 2} bytes)'
                    WHEN regexp_matches(line, '[^\\x20-\\x7E\\t\\r]')
                        THEN 'binary or non-ASCII data'
                    WHEN field_count <> {count}
                        THEN 'expected {count} fields, found ' || CAST(field_count AS VARCHAR)
                    {" ".join(shape_checks)}
                    ELSE 'unreadable line'
                END
            {" ".join(value_checks)}
        END AS reason
    FROM typed
)
SELECT
    line_no,
    CASE
        WHEN {header_test} THEN 'header'
        WHEN reason IS NOT NULL THEN 'malformed'
        WHEN {window_test} THEN 'filtered'
        ELSE {status_case}
    END AS status,
    reason,
    CASE WHEN reason IS NOT NULL
        THEN coalesce(
            regexp_replace(left(line, {SAMPLE_CHARS}), '[^\\x20-\\x7E]', '\ufffd', 'g'), '')
    END AS sample,
    {", ".join(out_cols)}
FROM checked
"""


# -- the fast path --------------------------------------------------------------------------
# DuckDB's parallel CSV reader splits the fields; SQL then types and checks them. Every check
# here is at least as strict as the exact parser above, so a row that passes would have been
# loaded the same way by it; a file with any row that fails is loaded again by the exact parser.

FAST_PATH_ERROR = "flowlog fast path: a row needs the exact parser"


def _text_column(field: FlowField) -> str:
    return quote_ident(f"t_{field.column}")


def fast_read_sql(
    path: str,
    fmt: FlowFormat,
    *,
    skip_header: bool,
    compression: str = "none",
    typed_integers: bool = False,
) -> str:
    """Rows of fields `t_<column>` (NULL for `-`) of a text file, unordered: VARCHAR, or
    BIGINT for the integer fields with `typed_integers` (DuckDB's reader then takes +5, 4.5,
    1e2 and 0x10 for numbers: the caller must prove the text held plain digits only)."""

    def sql_type(field: FlowField) -> str:
        return "BIGINT" if typed_integers and field.kind is FieldKind.INTEGER else "VARCHAR"

    columns = ", ".join(f"{sql_string(f't_{field.column}')}: '{sql_type(field)}'" for field in fmt)
    return f"""
SELECT * FROM read_csv({sql_string(path)},
    columns = {{{columns}}},
    delim = ' ', quote = '', escape = '', nullstr = '-',
    header = false, skip = {1 if skip_header else 0}, auto_detect = false,
    strict_mode = true, null_padding = false, encoding = 'utf-8',
    compression = {sql_string(compression)})
"""


def fast_parquet_sql(path: str, fmt: FlowFormat) -> str:
    """Rows of an AWS flow log Parquet file as VARCHAR fields, with `line_no` (row, 1-based)."""
    casts = ", ".join(
        f"CAST({quote_ident(field.parquet_column)} AS VARCHAR) AS {_text_column(field)}"
        for field in fmt
    )
    return (
        f"SELECT file_row_number + 1 AS line_no, {casts} "
        f"FROM read_parquet({sql_string(path)}, file_row_number = true)"
    )


def parquet_lines_sql(path: str, fmt: FlowFormat) -> str:
    """Rows (line_no, line) rebuilding each Parquet row as a text line, for the exact parser."""
    parts = ", ".join(
        f"coalesce(CAST({quote_ident(field.parquet_column)} AS VARCHAR), '-')" for field in fmt
    )
    return (
        f"SELECT file_row_number + 1 AS line_no, concat_ws(' ', {parts}) AS line "
        f"FROM read_parquet({sql_string(path)}, file_row_number = true)"
    )


def _fast_value_column(field: FlowField) -> str:
    """The column of fast_rows_sql holding an integer field's BIGINT (NULL when unreadable)."""
    return quote_ident(f"v_{field.column}")


def _fast_check(field: FlowField, *, typed_integers: bool = False) -> str:
    """SQL true when the field's text is one the exact parser loads (as the same value)."""
    text = _text_column(field)
    if field.kind is FieldKind.INTEGER:
        # A time in milliseconds fails the range: the exact parser reads those.
        hi = _MAX_EPOCH if field.name in TIME_FIELDS else field.maximum
        value = _fast_value_column(field)
        range_check = f" AND {value} <= {hi}" if hi is not None else ""
        if typed_integers:  # read as BIGINT: the loader checks the digits by byte counts
            return f"({value} IS NULL OR ({value} >= 0{range_check}))"
        # DuckDB's cast also reads +5, 4.5, 1_000, 1e2 and 0x10: only plain digits pass (the
        # GLOB finds any other byte, cheaper than a regex), at most 19 of them as the exact
        # parser allows.
        return (
            f"({text} IS NULL OR ({value} IS NOT NULL{range_check} "
            f"AND strlen({text}) <= 19 AND NOT ({text} GLOB '*[!0-9]*')))"
        )
    if field.kind is FieldKind.ACTION:
        return f"({text} IS NULL OR {text} IN ('ACCEPT', 'REJECT'))"
    if field.kind is FieldKind.LOG_STATUS:
        return f"coalesce({text} IN ('OK', 'NODATA', 'SKIPDATA'), FALSE)"
    # Text (addresses are checked by their lookup): printable ASCII without blanks.
    return f"({text} IS NULL OR regexp_full_match({text}, '[\\x21-\\x7E]+'))"


def fast_window_test(fmt: FlowFormat, window: TimeWindow | None, start: str, end: str) -> str:
    if window is None or not (fmt.has("start") and fmt.has("end")):
        return "FALSE"
    terms = []
    if window.start_epoch is not None:
        terms.append(f"{end} < {window.start_epoch}")
    if window.end_epoch is not None:
        terms.append(f"{start} > {window.end_epoch}")
    return "coalesce(" + " OR ".join(terms) + ", FALSE)" if terms else "FALSE"


def _fast_status(fmt: FlowFormat, window_test: str, log_status: str) -> str:
    status = "'ok'"
    if fmt.has("log-status"):
        status = (
            f"CASE {log_status} WHEN 'NODATA' THEN 'nodata' "
            "WHEN 'SKIPDATA' THEN 'skipdata' ELSE 'ok' END"
        )
    return f"CASE WHEN {window_test} THEN 'filtered' ELSE {status} END"


def fast_survey_sql(source_sql: str, fmt: FlowFormat, window: TimeWindow | None) -> str:
    """One cheap pass over the source (DuckDB converts only the columns it uses). Rows with
    `status` set count the rows of that status (`n`) and give the first start and last end of
    the good ones; the other rows each hold one distinct address text in `address`."""
    has_times = fmt.has("start") and fmt.has("end")
    start = 'TRY_CAST("t_start" AS BIGINT)' if has_times else "NULL"
    end = 'TRY_CAST("t_end" AS BIGINT)' if has_times else "NULL"
    log_status = '"t_log_status"' if fmt.has("log-status") else "NULL"
    status = _fast_status(fmt, fast_window_test(fmt, window, start, end), log_status)
    texts = [_text_column(field) for field in fmt if field.kind is FieldKind.ADDRESS]
    address = f"coalesce({', '.join(texts)})" if texts else "NULL"
    if len(texts) > 1:
        address = (
            "CASE " + " ".join(f"WHEN GROUPING({text}) = 0 THEN {text}" for text in texts) + " END"
        )
    elif texts:
        address = texts[0]
    sets = ", ".join(["(status)"] + [f"({text})" for text in texts])
    return f"""
SELECT CASE WHEN GROUPING(status) = 0 THEN status END AS status,
    {address} AS address, count(*) AS n,
    min(s) FILTER (status = 'ok') AS first, max(e) FILTER (status = 'ok') AS last
FROM (
    SELECT {status} AS status, {start} AS s, {end} AS e{"".join(", " + t for t in texts)}
    FROM ({source_sql}) AS source
) AS r
GROUP BY GROUPING SETS ({sets})
"""


def fast_addresses_sql(survey_table: str) -> str:
    """SELECT (a, ip): each distinct address of a survey and its integer (NULL if invalid)."""
    return (
        "SELECT a, flowlog_ip_int(a) AS ip FROM "
        f"(SELECT DISTINCT address AS a FROM {survey_table} "
        "WHERE status IS NULL AND address IS NOT NULL) AS distinct_addresses"
    )


def fast_rows_sql(
    source_sql: str,
    fmt: FlowFormat,
    window: TimeWindow | None,
    *,
    address_table: str | None,
    trusted_text: bool = False,
    line_numbers: bool = False,
    typed_integers: bool = False,
) -> str:
    """SELECT over `source_sql` (`t_<column>` VARCHAR fields, integers BIGINT already with
    `typed_integers`, when the caller proves by byte counts that the integer fields were
    plain digits and the IPv4 fields digits and dots): typed flows columns, the
    address integers `ip_<column>` (looked up in `address_table`, made by
    fast_addresses_sql; without one, computed per row, which needs `typed_integers`),
    `valid` and `status`. With `trusted_text` the caller has checked the
    bytes (printable ASCII, no blank), so text fields only need to be non-empty."""
    addresses = [field for field in fmt if field.kind is FieldKind.ADDRESS]
    if addresses and address_table is None and not typed_integers:
        raise ValueError("addresses read per row need the byte counts of typed_integers")
    joins = ""
    if address_table is not None:
        joins = "".join(
            f" LEFT JOIN {address_table} AS a_{field.column} "
            f"ON a_{field.column}.a = source.{_text_column(field)}"
            for field in addresses
        )

    def ip_of(field: FlowField) -> str:
        if address_table is not None:
            return f"a_{field.column}.ip"
        # Per row: IPv4 (most addresses) is split once on its dots and summed; IPv6 takes the
        # macro. The caller's byte counts prove each part plain digits (any other byte in an
        # IPv4 field makes the file's non-digit count too large), so four parts that each
        # cast to 0..255, in at most 15 bytes, are the exact parser's dotted quad.
        text, parts = _text_column(field), f"v4_{field.column}"
        octets = " + ".join(
            f"CAST(TRY_CAST({parts}[{at}] AS UTINYINT) AS BIGINT) * {scale}"
            for at, scale in ((1, 16777216), (2, 65536), (3, 256), (4, 1))
        )
        return (
            f"CASE WHEN {text} IS NULL THEN NULL WHEN strpos({text}, ':') > 0 "
            f"THEN flowlog_ip_int({text}) WHEN len({parts}) = 4 AND strlen({text}) <= 15 "
            f"THEN CAST({IPV4_MAPPED_BASE} + {octets} AS UHUGEINT) END"
        )

    # Per field, computed once: each integer's value and each address's parts (split on the
    # dots; not four of them when the text is not dotted IPv4).
    cast = "{}" if typed_integers else "TRY_CAST({} AS BIGINT)"
    first = [
        f"{cast.format(_text_column(field))} AS {_fast_value_column(field)}"
        for field in fmt
        if field.kind is FieldKind.INTEGER
    ]
    if address_table is None:
        first += [
            f"string_split({_text_column(field)}, '.') AS v4_{field.column}" for field in addresses
        ]

    typed: list[str] = ["line_no"] if line_numbers else []
    for field in fmt:
        text, col = _text_column(field), quote_ident(field.column)
        if field.kind is FieldKind.INTEGER:
            typed.append(f"CAST({_fast_value_column(field)} AS {field.sql_type}) AS {col}")
        else:
            typed.append(f"{text} AS {col}")
        if field.kind is FieldKind.ADDRESS:
            typed.append(f"ip_{field.column}")
    checks = []
    for field in fmt:
        text = _text_column(field)
        if trusted_text and field.kind is FieldKind.TEXT:
            checks.append(f"({text} IS NULL OR {text} <> '')")
        elif field.kind is FieldKind.ADDRESS:
            checks.append(f"({text} IS NULL OR ip_{field.column} IS NOT NULL)")
        else:
            checks.append(_fast_check(field, typed_integers=typed_integers))
    if fmt.has("start") and fmt.has("end"):
        checks.append('coalesce("v_start" <= "v_end", TRUE)')
    window_test = fast_window_test(fmt, window, '"start"', '"end"')
    status = _fast_status(fmt, window_test, "log_status")
    extra = "".join(f", {column}" for column in first)
    first_sql = f"SELECT *{extra} FROM ({source_sql}) AS source"
    return f"""
SELECT *, {status} AS status
FROM (
    SELECT {", ".join(typed)}, {" AND ".join(checks)} AS valid
    FROM (
        SELECT *{"".join(f", {ip_of(field)} AS ip_{field.column}" for field in addresses)}
        FROM ({first_sql}) AS source{joins}
    ) AS source
) AS typed
"""


def fast_insert_columns(fmt: FlowFormat) -> tuple[list[str], list[str]]:
    """(flows columns, expressions over fast_rows_sql) for the INSERT of the good rows."""
    columns = [quote_ident(field.column) for field in fmt]
    values = list(columns)
    for name, column in PACKET_ADDRESS_COLUMNS.items():
        if fmt.has(name):
            columns.append(column)
            values.append(f"ip_{name.replace('-', '_')}")
    for addr, prefix in (("srcaddr", "src"), ("dstaddr", "dst")):
        if fmt.has(addr):
            columns += [f"{prefix}_ip", f"{prefix}_family"]
            values += [
                f"ip_{addr}",
                f"CAST(CASE WHEN ip_{addr} IS NULL THEN NULL WHEN strpos({addr}, ':') > 0 "
                f"THEN 6 ELSE 4 END AS TINYINT)",
            ]
    for name, column in (("start", "start_ts"), ("end", "end_ts")):
        if fmt.has(name):
            columns.append(column)
            values.append(f"make_timestamp(CAST({quote_ident(name)} AS BIGINT) * 1000000)")
    return columns, values
