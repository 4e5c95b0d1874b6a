"""Storing uploaded flow-log files: safe names, size limits, gzip bomb refusal, Parquet row and
size bounds, a per-user quota of stored uploads, hashing."""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import duckdb
from django.conf import settings
from django.db.models import Sum


class UploadRejected(ValueError):
    """The upload is refused; the message says why (and the HTTP layer answers 400 or 413)."""

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StoredFile:
    storage_key: str
    size: int
    sha256: str


def _looks_like_text(sample: bytes) -> bool:
    if not sample:
        return True
    if b"\x00" in sample[:4096]:
        return False
    try:
        sample[:4096].decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the sample's end is still text.
        return exc.start >= len(sample[:4096]) - 3
    return True


def store_upload(upload: Any, *, max_bytes: int | None = None) -> StoredFile:
    """Copy an uploaded file (Django UploadedFile or any binary file object with `.name`) to
    DATA_DIR/uploads under a random name, checking type and size as it streams."""
    limit = max_bytes if max_bytes is not None else settings.FLOWLOG_MAX_UPLOAD_BYTES
    size = getattr(upload, "size", None)
    if size is not None and size > limit:
        raise UploadRejected(
            f"{_name(upload)} is {size:,} bytes; the limit is {limit:,} bytes.", too_large=True
        )
    key = f"{uuid.uuid4().hex}.log"
    destination = Path(settings.UPLOAD_DIR) / key
    digest = hashlib.sha256()
    written = 0
    head = b""
    source: IO[bytes] = upload
    chunks = (
        upload.chunks() if hasattr(upload, "chunks") else iter(lambda: source.read(_CHUNK), b"")
    )
    try:
        with destination.open("xb") as out:
            for chunk in chunks:
                if not head:
                    head = chunk[:8192]
                written += len(chunk)
                if written > limit:
                    raise UploadRejected(
                        f"{_name(upload)} is larger than the {limit:,}-byte limit.",
                        too_large=True,
                    )
                digest.update(chunk)
                out.write(chunk)
        if written == 0:
            raise UploadRejected(f"{_name(upload)} is empty.")
        if head.startswith(GZIP_MAGIC):
            _check_gzip(destination, limit=limit * 20, name=_name(upload))
        elif head.startswith(PARQUET_MAGIC):
            _check_parquet(destination, name=_name(upload))
        elif not _looks_like_text(head):
            raise UploadRejected(
                f"{_name(upload)} is neither a text flow log, gzip nor Parquet file."
            )
    except BaseException:
        destination.unlink(missing_ok=True)
        raise
    return StoredFile(storage_key=key, size=written, sha256=digest.hexdigest())


def _check_gzip(path: Path, *, limit: int, name: str) -> None:
    """Refuse corrupt gzip and gzip bombs: decompress in a stream, stop past `limit` bytes."""
    total = 0
    try:
        with gzip.open(path, "rb") as stream:
            while chunk := stream.read(_CHUNK):
                total += len(chunk)
                if total > limit:
                    raise UploadRejected(
                        f"{name} decompresses to more than {limit:,} bytes; refused.",
                        too_large=True,
                    )
    except (OSError, EOFError, zlib.error) as exc:
        raise UploadRejected(f"{name} is not a valid gzip file: {exc}.") from exc


def _check_parquet(path: Path, *, name: str) -> None:
    """Refuse unreadable Parquet and files past FLOWLOG_MAX_PARQUET_ROWS rows or
    FLOWLOG_MAX_PARQUET_BYTES uncompressed, from the footer alone (nothing is decoded)."""
    max_rows = settings.FLOWLOG_MAX_PARQUET_ROWS
    max_bytes = settings.FLOWLOG_MAX_PARQUET_BYTES
    try:
        with duckdb.connect(":memory:") as con:
            rows_row = con.execute(
                "SELECT sum(num_rows) FROM parquet_file_metadata(?)", [str(path)]
            ).fetchone()
            size_row = con.execute(
                "SELECT sum(total_uncompressed_size) FROM parquet_metadata(?)", [str(path)]
            ).fetchone()
    except duckdb.Error as exc:
        raise UploadRejected(f"{name} is not a readable Parquet file.") from exc
    rows = int((rows_row or [0])[0] or 0)
    expanded = int((size_row or [0])[0] or 0)
    if rows > max_rows:
        raise UploadRejected(
            f"{name} holds {rows:,} rows; Parquet uploads are limited to {max_rows:,}.",
            too_large=True,
        )
    if expanded > max_bytes:
        raise UploadRejected(
            f"{name} is {expanded:,} bytes uncompressed; Parquet uploads are limited to "
            f"{max_bytes:,}.",
            too_large=True,
        )


def check_upload_quota(user: Any, files: Any) -> None:
    """Refuse files that would take the user's stored uploads (not yet removed by retention)
    past UPLOAD_QUOTA_BYTES. Checked before anything is written."""
    quota = settings.UPLOAD_QUOTA_BYTES
    if not quota:
        return
    from investigations.models import UploadedLog

    used = (
        UploadedLog.objects.filter(uploaded_by=user, purged_at__isnull=True).aggregate(
            total=Sum("size")
        )["total"]
        or 0
    )
    incoming = sum(int(getattr(f, "size", 0) or 0) for f in files)
    if used + incoming > quota:
        raise UploadRejected(
            f"Your stored uploads would reach {used + incoming:,} bytes; the quota is "
            f"{quota:,} bytes per user ({used:,} in use). Old uploads are removed after "
            f"{settings.UPLOAD_RETENTION_DAYS} days, or ask an admin.",
            too_large=True,
        )


MAX_NAME_LENGTH = 255


def display_name(name: Any) -> str:
    """An uploaded file's name fit to show and store: the last path part (either separator),
    printable characters only, at most 255 characters keeping the extension; never empty."""
    text = str(name or "")
    text = re.split(r"[/\\]", text)[-1]
    text = "".join(char for char in text if char.isprintable()).strip()
    if len(text) > MAX_NAME_LENGTH:
        stem, dot, extension = text.rpartition(".")
        if dot and 0 < len(extension) <= 16:
            text = stem[: MAX_NAME_LENGTH - len(extension) - 1] + "." + extension
        else:
            text = text[:MAX_NAME_LENGTH]
    return text if text not in ("", ".", "..") else "upload"


def _name(upload: Any) -> str:
    return display_name(getattr(upload, "name", ""))[:100]


@dataclass(frozen=True)
class ReusedFile:
    """An earlier run's uploaded file read again by a new run ("Re-run with changes")."""

    name: str
    size: int


def relink_upload(previous: Any) -> StoredFile:
    """A new stored copy of an earlier upload, as a hard link where the file system allows
    (no bytes copied; removing either copy leaves the other), else a copy. The earlier file
    must still be on disk (retention may have removed it)."""
    source = Path(settings.UPLOAD_DIR) / previous.storage_key
    if previous.purged_at is not None or not previous.storage_key or not source.is_file():
        raise UploadRejected(
            f"{previous.original_name} is no longer stored (removed by the retention policy): "
            "upload it again."
        )
    key = f"{uuid.uuid4().hex}.log"
    destination = Path(settings.UPLOAD_DIR) / key
    try:
        os.link(source, destination)
    except OSError:
        shutil.copyfile(source, destination)
    return StoredFile(storage_key=key, size=previous.size, sha256=previous.sha256)
