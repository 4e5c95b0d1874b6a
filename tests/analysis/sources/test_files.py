"""The file source: several local files checked, sized and hashed, nothing copied."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import duckdb
import pytest

from analysis.engine import FlowEngine
from analysis.formats import FlowFormat
from analysis.sources import FetchCancelled, FetchRequest, SourceError, get_source

from .builders import HEADER, line


def test_it_reports_each_file_with_its_size_and_sha256(tmp_path: Path) -> None:
    plain = tmp_path / "a.log"
    plain.write_text(f"{HEADER}\n{line(1_700_000_000)}\n")
    packed = tmp_path / "b.log.gz"
    packed.write_bytes(gzip.compress(f"{line(1_700_000_100, packets=7)}\n".encode(), mtime=0))
    table = tmp_path / "c.parquet"
    duckdb.sql(f"COPY (SELECT 1 AS version) TO '{table}' (FORMAT parquet)")
    paths = [str(plain), str(packed), str(table)]

    result = get_source("file")().fetch(
        FetchRequest(paths=tuple(paths)), dest_dir=str(tmp_path / "x")
    )

    assert result.paths == paths
    assert [item.content for item in result.files] == ["text", "text", "parquet"]
    assert result.read["files"] == [
        {
            "path": path,
            "name": Path(path).name,
            "size": Path(path).stat().st_size,
            "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest(),
            "content": content,
        }
        for path, content in zip(paths, ["text", "text", "parquet"], strict=True)
    ]
    assert result.read["files_count"] == 3
    assert result.read["bytes"] == sum(Path(path).stat().st_size for path in paths)
    assert not (tmp_path / "x").exists()
    with FlowEngine() as engine:
        for flow_format, group in result.load_groups():
            engine.load_files(group, flow_format=flow_format)
        assert engine.connection.execute(
            "SELECT packets FROM flows ORDER BY packets"
        ).fetchall() == [(7,), (10,)]


def test_a_given_log_format_is_used_for_headerless_text_files(tmp_path: Path) -> None:
    path = tmp_path / "custom.log"
    path.write_text("eni-0a1 22 REJECT\n")

    result = get_source("file")().fetch(
        FetchRequest(paths=(str(path),), log_format="${interface-id} ${dstport} ${action}"),
        dest_dir=str(tmp_path),
    )

    assert result.format_for(str(path)) == FlowFormat.of(["interface-id", "dstport", "action"])


def test_a_missing_file_is_an_error_naming_it(tmp_path: Path) -> None:
    real = tmp_path / "real.log"
    real.write_text("x\n")
    with pytest.raises(SourceError, match=r"not a file: .*missing\.log"):
        get_source("file")().fetch(
            FetchRequest(paths=(str(real), str(tmp_path / "missing.log"))), dest_dir=str(tmp_path)
        )
    with pytest.raises(SourceError, match="no files given"):
        get_source("file")().fetch(FetchRequest(), dest_dir=str(tmp_path))


def test_cancel_stops_between_files(tmp_path: Path) -> None:
    paths = []
    for n in range(3):
        path = tmp_path / f"{n}.log"
        path.write_text(f"{line(n)}\n")
        paths.append(str(path))
    seen: list[str] = []

    with pytest.raises(FetchCancelled) as caught:
        get_source("file")().fetch(
            FetchRequest(paths=tuple(paths)),
            dest_dir=str(tmp_path),
            progress=lambda message, _: seen.append(message),
            cancel=lambda: len(seen) >= 2,
        )

    assert [item["path"] for item in caught.value.read["files"]] == paths[:2]
