"""Property test: hostile lines never break a load, and every line is accounted for."""

from __future__ import annotations

import gzip
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.engine import FlowEngine
from analysis.window import TimeWindow

T0 = 1_700_000_000

valid_lines = st.builds(
    lambda a, b, port, proto, packets, size, start, span, action: (
        f"2 123456789012 eni-1 10.{a}.{b}.1 2001:db8::{a:x} {port} 22 {proto} {packets} {size} "
        f"{T0 + start} {T0 + start + span} {action} OK"
    ),
    st.integers(0, 255),
    st.integers(0, 255),
    st.integers(0, 65535),
    st.sampled_from([1, 6, 17]),
    st.integers(0, 10**6),
    st.integers(0, 10**12),
    st.integers(0, 10**6),
    st.integers(0, 60),
    st.sampled_from(["ACCEPT", "REJECT"]),
)
# Anything without a line break. (A lone CR counts as a line break for the reader.)
hostile_lines = st.one_of(
    st.binary(max_size=300).map(lambda raw: raw.replace(b"\n", b"").replace(b"\r", b"")),
    st.text(max_size=200).map(lambda text: text.replace("\n", "").replace("\r", "")),
    valid_lines.flatmap(
        lambda line: st.integers(0, len(line) - 1).map(lambda i: line[:i] + "\x00" + line[i:])
    ),
    valid_lines.map(lambda line: line.replace(" 22 ", " 99999 ")),
    valid_lines.map(lambda line: line.replace("10.", "10.300.", 1)),
    valid_lines.map(lambda line: line + " extra"),
    st.just(""),
)
lines_strategy = st.lists(
    st.one_of(
        valid_lines.map(lambda line: ("valid", line)),
        hostile_lines.map(lambda line: ("hostile", line)),
    ),
    min_size=1,
    max_size=40,
)


def as_bytes(line: str | bytes) -> bytes:
    return line if isinstance(line, bytes) else line.encode("utf-8", "surrogatepass")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tagged=lines_strategy)
def test_hostile_lines_never_break_a_load(tagged: list[tuple[str, str | bytes]]) -> None:
    # The first line is valid so no random line is taken for a header of field names.
    tagged = [("valid", f"2 1 eni-1 10.0.0.1 10.0.0.2 1 22 6 1 1 {T0} {T0} ACCEPT OK"), *tagged]
    data = b"\n".join(as_bytes(line) for _, line in tagged) + b"\n"
    with tempfile.TemporaryDirectory() as folder, FlowEngine() as engine:
        path = Path(folder) / "hostile.log"
        path.write_bytes(data)
        stats = engine.load_files([str(path)])

    assert stats.files[0].error is None
    assert stats.total == stats.ok + stats.nodata + stats.skipdata + stats.malformed + (
        stats.filtered_out
    )
    # Trailing empty lines are the end of the file, not lines.
    expected_total = len(tagged)
    while expected_total and as_bytes(tagged[expected_total - 1][1]).strip(b" \t") == b"":
        expected_total -= 1
    assert stats.total == expected_total
    valid_numbers = {n for n, (kind, _) in enumerate(tagged, 1) if kind == "valid"}
    assert stats.ok >= len(valid_numbers)
    assert all(sample.line not in valid_numbers for sample in stats.malformed_samples)
    assert all(1 <= sample.line <= expected_total for sample in stats.malformed_samples)


status_lines = st.builds(
    lambda status, start, span: (
        f"2 123456789012 eni-9 - - - - - - - {T0 + start} {T0 + start + span} - {status}"
    ),
    st.sampled_from(["NODATA", "SKIPDATA"]),
    st.integers(0, 10**6),
    st.integers(0, 600),
)
odd_valid_lines = st.one_of(
    valid_lines,
    status_lines,
    # Valid for the exact parser but not plain for the fast one: leading zeros, '-' fields.
    valid_lines.map(lambda line: line.replace(" 22 ", " 022 ")),
    valid_lines.map(lambda line: line.replace(" ACCEPT ", " - ").replace(" REJECT ", " - ")),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(st.one_of(odd_valid_lines, hostile_lines), min_size=1, max_size=30),
    window=st.one_of(st.none(), st.tuples(st.integers(0, 10**6), st.integers(0, 10**5))),
    gz=st.booleans(),
)
def test_the_fast_path_loads_exactly_what_the_exact_parser_loads(
    lines: list[str | bytes], window: tuple[int, int] | None, gz: bool
) -> None:
    lines = [f"2 1 eni-1 10.0.0.1 10.0.0.2 1 22 6 1 1 {T0} {T0} ACCEPT OK", *lines]
    data = b"\n".join(as_bytes(line) for line in lines) + b"\n"
    chosen = None
    if window is not None:
        start = datetime.fromtimestamp(T0 + window[0], UTC)
        chosen = TimeWindow(start, start + timedelta(seconds=window[1]))
    with tempfile.TemporaryDirectory() as folder, FlowEngine() as fast, FlowEngine() as exact:
        path = Path(folder) / "flows.log"
        path.write_bytes(gzip.compress(data) if gz else data)
        exact.fast_path = False
        fast_stats = fast.load_files([str(path)], window=chosen).to_dict()
        exact_stats = exact.load_files([str(path)], window=chosen).to_dict()
        query = "SELECT * FROM flows ORDER BY ALL"
        assert (
            fast.connection.execute(query).fetchall() == exact.connection.execute(query).fetchall()
        )
    assert exact_stats["files"][0]["method"] == "exact"
    fast_stats["files"][0]["method"] = "exact"
    assert fast_stats == exact_stats
