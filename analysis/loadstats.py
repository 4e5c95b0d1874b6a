"""What a load read: line counts by outcome, malformed samples, coverage gaps, per-file figures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


def _time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


MAX_MALFORMED_SAMPLES = 20
MAX_SKIPDATA_GAPS = 100


@dataclass
class MalformedLine:
    """One rejected line: where it is, why, and its text (truncated, control bytes replaced)."""

    file: str
    line: int
    reason: str
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "reason": self.reason, "text": self.text}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MalformedLine:
        return cls(str(data["file"]), int(data["line"]), str(data["reason"]), str(data["text"]))


@dataclass
class CoverageGap:
    """A SKIPDATA record: AWS dropped flows of this interface during [start, end]."""

    file: str
    line: int
    interface_id: str | None
    start: datetime | None
    end: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "interface_id": self.interface_id,
            "start": None if self.start is None else self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CoverageGap:
        return cls(
            str(data["file"]),
            int(data["line"]),
            data.get("interface_id"),
            _time(data.get("start")),
            _time(data.get("end")),
        )


@dataclass
class FileStats:
    """One file of a load. `error` is set when the file could not be read at all.

    `compression` is "gzip", "none" or "parquet"; `method` is how it was parsed: "fast"
    (DuckDB's parallel reader, for clean files) or "exact" (line by line, for the rest).
    `container` says what held the records: "text" (lines), "parquet" or "cloudwatch" (a
    CloudWatch Logs subscription export: JSON payloads whose log events are the records,
    their lines numbered in event order). `notes` tell what the load did that an analyst
    should know: fields not known here kept as text and not analysed, times read as
    milliseconds, control messages skipped.
    """

    path: str
    name: str
    bytes: int
    compression: str
    flow_format: str
    header: bool
    lines: int = 0
    records: int = 0
    error: str | None = None
    method: str = ""
    container: str = "text"
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "name": self.name,
            "bytes": self.bytes,
            "compression": self.compression,
            "format": self.flow_format,
            "header": self.header,
            "lines": self.lines,
            "records": self.records,
            "error": self.error,
            "method": self.method,
            "container": self.container,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileStats:
        return cls(
            path=str(data.get("path", "")),  # records shown to analysts drop server paths
            name=str(data["name"]),
            bytes=int(data["bytes"]),
            compression=str(data["compression"]),
            flow_format=str(data["format"]),
            header=bool(data["header"]),
            lines=int(data.get("lines", 0)),
            records=int(data.get("records", 0)),
            error=data.get("error"),
            method=str(data.get("method", "")),
            container=str(data.get("container", "text")),
            notes=[str(note) for note in data.get("notes") or []],
        )


@dataclass
class LoadStats:
    """Counts of one `load_files` call.

    Every line except header lines and trailing blank lines counts once in `total`:
    total == ok + nodata + skipdata + malformed + filtered_out.
    """

    total: int = 0
    ok: int = 0
    nodata: int = 0
    skipdata: int = 0
    malformed: int = 0
    filtered_out: int = 0
    malformed_samples: list[MalformedLine] = field(default_factory=list)
    skipdata_gaps: list[CoverageGap] = field(default_factory=list)
    files: list[FileStats] = field(default_factory=list)
    first_seen: datetime | None = None
    last_seen: datetime | None = None

    @property
    def failed_files(self) -> list[FileStats]:
        return [stats for stats in self.files if stats.error is not None]

    @property
    def notes(self) -> list[str]:
        """Every file's notes, each prefixed with the file's name."""
        return [f"{stats.name}: {note}" for stats in self.files for note in stats.notes]

    def note_seen(self, first: datetime | None, last: datetime | None) -> None:
        if first is not None and (self.first_seen is None or first < self.first_seen):
            self.first_seen = first
        if last is not None and (self.last_seen is None or last > self.last_seen):
            self.last_seen = last

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "ok": self.ok,
            "nodata": self.nodata,
            "skipdata": self.skipdata,
            "malformed": self.malformed,
            "filtered_out": self.filtered_out,
            "malformed_samples": [sample.to_dict() for sample in self.malformed_samples],
            "skipdata_gaps": [gap.to_dict() for gap in self.skipdata_gaps],
            "files": [stats.to_dict() for stats in self.files],
            "first_seen": None if self.first_seen is None else self.first_seen.isoformat(),
            "last_seen": None if self.last_seen is None else self.last_seen.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoadStats:
        """The inverse of to_dict (a cached load's stats come back this way)."""
        return cls(
            total=int(data["total"]),
            ok=int(data["ok"]),
            nodata=int(data["nodata"]),
            skipdata=int(data["skipdata"]),
            malformed=int(data["malformed"]),
            filtered_out=int(data.get("filtered_out", 0)),
            malformed_samples=[MalformedLine.from_dict(d) for d in data["malformed_samples"]],
            skipdata_gaps=[CoverageGap.from_dict(d) for d in data["skipdata_gaps"]],
            files=[FileStats.from_dict(d) for d in data["files"]],
            first_seen=_time(data.get("first_seen")),
            last_seen=_time(data.get("last_seen")),
        )

    @classmethod
    def merge(cls, parts: Sequence[LoadStats]) -> LoadStats:
        """Several loads (one per format, or one per part of a window) as one: counts add up,
        samples are kept in order up to their limits, and the time span covers all."""
        merged = cls()
        for part in parts:
            merged.total += part.total
            merged.ok += part.ok
            merged.nodata += part.nodata
            merged.skipdata += part.skipdata
            merged.malformed += part.malformed
            merged.filtered_out += part.filtered_out
            room = MAX_MALFORMED_SAMPLES - len(merged.malformed_samples)
            merged.malformed_samples.extend(part.malformed_samples[: max(0, room)])
            room = MAX_SKIPDATA_GAPS - len(merged.skipdata_gaps)
            merged.skipdata_gaps.extend(part.skipdata_gaps[: max(0, room)])
            merged.files.extend(part.files)
            merged.note_seen(part.first_seen, part.last_seen)
        return merged
