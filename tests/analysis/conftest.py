"""Fixtures for the analysis engine tests: log files written from lines, and a fresh engine."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from analysis.engine import FlowEngine

HEADER = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes "
    "start end action log-status"
)

WriteLog = Callable[..., str]


@pytest.fixture
def write_log(tmp_path: Path) -> WriteLog:
    """Write lines (str or bytes) joined by newlines to a new file; gzip it if asked."""
    counter = {"n": 0}

    def write(
        lines: list[str | bytes],
        *,
        gz: bool = False,
        name: str | None = None,
        newline: bytes = b"\n",
        trailing: bytes = b"\n",
    ) -> str:
        counter["n"] += 1
        path = tmp_path / (name or f"log{counter['n']}.log")
        data = (
            newline.join(
                line if isinstance(line, bytes) else line.encode("ascii") for line in lines
            )
            + trailing
        )
        path.write_bytes(gzip.compress(data) if gz else data)
        return str(path)

    return write


@pytest.fixture
def engine() -> Iterator[FlowEngine]:
    with FlowEngine() as flow_engine:
        yield flow_engine
