"""A cancel is noticed while files load: between files, and in the middle of one on both the
fast path and the exact parser (its statement interrupted and rolled back)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from analysis import engine as engine_module
from analysis.demo import generate
from analysis.engine import FlowEngine, LoadCancelled


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: Any) -> Path:
    path = tmp_path_factory.mktemp("cancel") / "flows.log"
    generate(str(path), lines=400_000, seed=3)
    return path


@pytest.fixture(scope="module")
def big_count(big_file: Path) -> int:
    with FlowEngine() as engine:
        engine.load_files([str(big_file)])
        count = engine.record_count()
    assert count > 390_000
    return count


class CancelOnCall:
    """Says "stop" from its n-th call on, and remembers how often it was asked."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.calls = 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.calls >= self.n


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast", "exact"])
def test_a_cancel_while_a_file_loads_interrupts_it_and_keeps_none_of_its_rows(
    big_file: Path, big_count: int, fast_path: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Asked before the file (no), then at the first poll while the file's statement runs.
    monkeypatch.setattr(engine_module, "PROGRESS_POLL_SECONDS", 0.001)
    cancel = CancelOnCall(2)
    reported: list[str] = []
    with FlowEngine() as engine:
        engine.fast_path = fast_path
        with pytest.raises(LoadCancelled):
            engine.load_files(
                [str(big_file)], cancel=cancel, progress=lambda stage, _f: reported.append(stage)
            )
        assert cancel.calls == 2
        assert engine.record_count() == 0  # the file's rows were rolled back, not committed
        assert "Loaded" not in reported
        # The engine is still usable: the next load works.
        engine.load_files([str(big_file)])
        assert engine.record_count() == big_count


def test_a_cancel_between_files_stops_before_the_next_one(
    big_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = tmp_path / "small.log"
    line = (
        "2 123456789012 eni-1 192.0.2.1 10.0.0.5 40000 22 6 3 180 1700000000 1700000010 ACCEPT OK"
    )
    small.write_text((line + "\n") * 1000)
    monkeypatch.setattr(engine_module, "PROGRESS_POLL_SECONDS", 3600.0)  # no polls mid-file
    cancel = CancelOnCall(2)  # before the first file: no; before the second: yes
    with FlowEngine() as engine:
        with pytest.raises(LoadCancelled):
            engine.load_files([str(small), str(big_file)], cancel=cancel)
        assert cancel.calls == 2
        assert engine.record_count() == 1000  # the first file only


def test_with_a_cancel_check_that_never_fires_every_file_loads(
    big_file: Path, big_count: int
) -> None:
    with FlowEngine() as engine:
        engine.fast_path = False  # the exact parser on its own thread, polled
        engine.load_files([str(big_file)], cancel=lambda: False)
        assert engine.record_count() == big_count
