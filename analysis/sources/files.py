"""The file source: flow log files already on local disk (uploads, paths given on the CLI)."""

from __future__ import annotations

import hashlib
import os
from typing import Any

from analysis.sources.base import (
    PARQUET,
    TEXT,
    CancelCallback,
    FetchedFile,
    FetchRequest,
    FetchResult,
    FlowLogSource,
    ListedItems,
    ProgressCallback,
    SourceError,
    check_cancel,
    register,
    report,
)

PARQUET_MAGIC = b"PAR1"
_CHUNK = 1024 * 1024


def content_of(path: str) -> str:
    """PARQUET when the file starts with Parquet's magic bytes, else TEXT."""
    with open(path, "rb") as stream:
        return PARQUET if stream.read(4) == PARQUET_MAGIC else TEXT


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@register
class FileFlowLogSource(FlowLogSource):
    """Checks that every path is a readable file and records its size and SHA-256. The files
    stay where they are: `dest_dir` is not used."""

    kind = "file"
    title = "Files"
    description = "Flow log files on the portal's disk: uploads or paths (plain, gzip, Parquet)."

    def fetch(
        self,
        request: FetchRequest,
        *,
        dest_dir: str,
        progress: ProgressCallback | None = None,
        cancel: CancelCallback | None = None,
    ) -> FetchResult:
        if not request.paths:
            raise SourceError("no files given")
        text_format = request.flow_format if request.log_format else None
        listed = ListedItems()
        files: list[FetchedFile] = []
        total = 0

        def read() -> dict[str, Any]:
            return {
                "source": self.kind,
                "window": request.window.to_dict(),
                "bytes": total,
                "log_format": request.log_format,
                **listed.describe("files"),
            }

        for index, path in enumerate(request.paths):
            check_cancel(cancel, read)
            report(
                progress,
                f"Checking file {index + 1} of {len(request.paths)}",
                index / len(request.paths),
            )
            if not os.path.isfile(path):
                raise SourceError(f"not a file: {path}")
            try:
                size = os.path.getsize(path)
                content = content_of(path)
                digest = sha256_of(path)
            except OSError as error:
                raise SourceError(f"cannot read {path}: {error.strerror or error}") from error
            total += size
            files.append(
                FetchedFile(
                    path=path,
                    content=content,
                    flow_format=text_format if content == TEXT else None,
                    bytes=size,
                    origin=path,
                )
            )
            listed.add(
                {
                    "path": path,
                    "name": os.path.basename(path),
                    "size": size,
                    "sha256": digest,
                    "content": content,
                },
                f"{path} {size} {digest}",
            )
        report(progress, f"Checked {len(files)} files", 1.0)
        return FetchResult(kind=self.kind, files=files, read=read())
