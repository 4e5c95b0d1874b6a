"""Every analyzer's columns are classified: numbers aggregated over a group are measures (run
comparison matches rows on the rest), so a new analyzer cannot add an unclassified count."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from analysis.analyzers import all_analyzers
from analysis.analyzers.result import DETAIL_COLUMNS, MEASURE_COLUMNS, key_columns
from analysis.demo import generate
from analysis.engine import FlowEngine

# Numbers that name a group rather than count it.
NUMERIC_KEYS = {"srcport", "dstport", "port"}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FlowEngine, list[str]]]:
    path = tmp_path_factory.mktemp("columns") / "demo.log"
    manifest = generate(path, lines=5000, seed=7, end=datetime(2026, 11, 1, tzinfo=UTC))
    with FlowEngine() as loaded:
        loaded.load_files([str(Path(path))])
        yield loaded, manifest.vpc_cidrs


def test_every_numeric_column_of_every_analysis_is_a_measure_or_a_known_key(
    engine: tuple[FlowEngine, list[str]],
) -> None:
    loaded, vpc_cidrs = engine
    params = {
        "vpc_cidrs": vpc_cidrs,
        "port": 22,
        "top_n": 50,
        "lookup_table": [[22, 6, "ssh"], [443, 6, "https"]],
        "cidr_tables": [
            {
                "name": "docs",
                "entries": [
                    ["203.0.113.0/24", {"label": "TEST-NET-3"}],
                    ["198.51.100.0/24", {"label": "TEST-2"}],
                ],
            }
        ],
    }
    checked = 0
    for analyzer in all_analyzers():
        result = loaded.run(analyzer.name, params)
        for table in [result, *result.tables]:
            assert key_columns(table.columns), f"{analyzer.name}: a table with no key"
            for column in table.columns:
                values = [row.get(column) for row in table.rows if row.get(column) is not None]
                numeric = bool(values) and all(
                    isinstance(v, int | float) and not isinstance(v, bool) for v in values
                )
                if numeric:
                    checked += 1
                    assert column in MEASURE_COLUMNS | NUMERIC_KEYS, (
                        f"{analyzer.name}: numeric column {column!r} is not classified"
                    )
                if column in MEASURE_COLUMNS:
                    assert not values or numeric, f"{analyzer.name}: {column} is not a number"
    assert checked > 40  # the demo exercised the analyzers, not empty tables


def test_measures_and_details_never_overlap() -> None:
    assert not MEASURE_COLUMNS & DETAIL_COLUMNS
    assert key_columns(["type", "severity", "title", "peer", "flows", "first_seen"]) == [
        "type",
        "peer",
    ]
