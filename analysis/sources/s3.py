"""The S3 source: lists only the day/hour partitions a window touches and downloads its files."""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from analysis.aws import AwsError
from analysis.sources.base import (
    CancelCallback,
    ClientFactory,
    FetchCancelled,
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
    require,
)
from analysis.sources.files import content_of
from analysis.sources.s3layout import (
    S3Layout,
    content_for_name,
    days_between,
    parse_account_folder,
    parse_file_name,
)

DEFAULT_MAX_WORKERS = 4
_CHUNK = 1024 * 1024
_LIST_PAGE_SIZE = 1000

SKIP_NOT_FLOW_LOG = "not a flow log file"
SKIP_OUTSIDE_WINDOW = "outside window"
SKIP_OTHER_FLOW_LOG = "other flow log"


@dataclass(frozen=True)
class _Candidate:
    key: str
    size: int
    etag: str
    last_modified: str


@dataclass(frozen=True)
class _Selected:
    key: str
    size: int
    etag: str
    timestamp: datetime | None
    layout: S3Layout


def _aws_error(exc: Exception, operation: str, where: str) -> AwsError:
    error = AwsError.from_exception(exc, operation=operation)
    return AwsError(error.code, f"{error.message} ({where})", operation=operation)


class _Listing:
    """What was listed: prefixes, request count, and every key not selected and why."""

    def __init__(self) -> None:
        self.prefixes = ListedItems()
        self.requests = 0
        self.skipped = ListedItems()
        self.skipped_by_reason: Counter[str] = Counter()
        self.hour_prefixes_skipped = 0

    def skip(self, item: _Candidate, reason: str, timestamp: datetime | None) -> None:
        self.skipped_by_reason[reason] += 1
        self.skipped.add(
            {
                "key": item.key,
                "size": item.size,
                "reason": reason,
                "timestamp": None if timestamp is None else timestamp.isoformat(),
            },
            f"{item.key} {item.etag} {item.size} {reason}",
        )


@register
class S3FlowLogSource(FlowLogSource):
    """Reads flow log files delivered to S3 (text `.log.gz` with a header line, or Parquet).

    Selection: the window is widened by `request.slack` on both sides (see DEFAULT_SLACK);
    only the day (and hour, where the flow log partitions per hour) prefixes that range
    touches are listed, and of those only keys whose file-name stamp falls in the range are
    downloaded. Keys whose name has no stamp are kept when their partition is in range.
    A window without a start lists the whole region prefix; one without an end reads to now.
    Downloads stream to `dest_dir`, `max_workers` at a time, each checked against the ETag
    and size that the listing gave.
    """

    kind = "s3"
    title = "Amazon S3"
    description = "Flow log files delivered to an S3 bucket (default or Hive-compatible keys)."

    def __init__(
        self, *, clients: ClientFactory | None = None, max_workers: int = DEFAULT_MAX_WORKERS
    ) -> None:
        super().__init__(clients=clients)
        if max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {max_workers}")
        self.max_workers = max_workers

    def fetch(
        self,
        request: FetchRequest,
        *,
        dest_dir: str,
        progress: ProgressCallback | None = None,
        cancel: CancelCallback | None = None,
    ) -> FetchResult:
        require("S3", {"a bucket": request.bucket, "the flow log's region": request.region})
        os.makedirs(dest_dir, exist_ok=True)
        s3 = self.client("s3", request.region)
        lo = None if request.window.start is None else request.window.start - request.slack
        hi = (request.window.end or datetime.now(UTC)) + request.slack
        listing = _Listing()
        layouts: list[S3Layout] = []
        selected: list[_Selected] = []
        downloaded: list[tuple[_Selected, FetchedFile]] = []
        order: dict[str, int] = {}

        def read() -> dict[str, Any]:
            return {
                "source": self.kind,
                "bucket": request.bucket,
                "prefix": request.prefix,
                "region": request.region,
                "window": request.window.to_dict(),
                "slack_seconds": request.slack.total_seconds(),
                "stamps_from": None if lo is None else lo.isoformat(),
                "stamps_to": hi.isoformat(),
                "flow_log_ids": list(request.flow_log_ids),
                "layouts": [layout.to_dict() for layout in layouts],
                "list_requests": listing.requests,
                **listing.prefixes.describe("prefixes_listed"),
                "hour_prefixes_skipped": listing.hour_prefixes_skipped,
                "selected_count": len(selected),
                "shard": [request.shard_index, request.shard_count],
                **_describe_objects(downloaded, order),
                "bytes": sum(item.bytes for _, item in downloaded),
                "files_by_content": dict(Counter(item.content for _, item in downloaded)),
                **listing.skipped.describe("skipped"),
                "skipped_by_reason": dict(listing.skipped_by_reason),
            }

        report(progress, f"Listing s3://{request.bucket}/{request.prefix}AWSLogs/", 0.0)
        layouts.extend(self._layouts(s3, request, listing, cancel, read))
        for layout in layouts:
            for candidate in self._candidates(
                s3, request.bucket, layout, lo, hi, listing, cancel, read
            ):
                choice = self._choose(candidate, layout, request, lo, hi, listing)
                if choice is not None:
                    selected.append(choice)
            report(progress, f"Listed {layout.region_prefix}", 0.05)
        selected.sort(key=_stamp_order)
        if request.sharded:  # every shard lists alike and takes its turn of the objects
            selected[:] = selected[request.shard_index :: request.shard_count]
        order.update((item.key, index) for index, item in enumerate(selected))

        names = self._local_names(selected, dest_dir)
        report(progress, f"Downloading 0 of {len(selected)} objects", 0.05)
        try:
            for item, fetched in self._download_all(
                s3, request.bucket, selected, names, progress, cancel
            ):
                downloaded.append((item, fetched))
        except _Cancelled:
            raise FetchCancelled(read()) from None
        report(progress, f"Downloaded {len(downloaded)} objects", 1.0)
        # Files in stamp order whatever order the downloads finished in.
        downloaded.sort(key=lambda pair: order[pair[0].key])
        return FetchResult(
            kind=self.kind, files=[fetched for _, fetched in downloaded], read=read()
        )

    # -- listing ----------------------------------------------------------------------------

    def _pages(
        self,
        s3: Any,
        bucket: str,
        prefix: str,
        listing: _Listing,
        cancel: CancelCallback | None,
        read: Any,
        *,
        delimiter: bool,
    ) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        if delimiter:
            kwargs["Delimiter"] = "/"
        listing.prefixes.add({"prefix": prefix, "delimiter": delimiter}, prefix)
        try:
            paginator = s3.get_paginator("list_objects_v2")
            pages = paginator.paginate(PaginationConfig={"PageSize": _LIST_PAGE_SIZE}, **kwargs)
            for page in pages:
                listing.requests += 1
                yield page
                check_cancel(cancel, read)
        except (ClientError, BotoCoreError) as exc:
            raise _aws_error(exc, "s3:ListBucket", f"s3://{bucket}/{prefix}") from exc

    def _layouts(
        self,
        s3: Any,
        request: FetchRequest,
        listing: _Listing,
        cancel: CancelCallback | None,
        read: Any,
    ) -> list[S3Layout]:
        if request.account_ids and request.hive_compatible is not None:
            return [
                S3Layout(request.prefix, account, request.region, request.hive_compatible)
                for account in request.account_ids
            ]
        root = f"{request.prefix}AWSLogs/"
        found: list[S3Layout] = []
        for page in self._pages(s3, request.bucket, root, listing, cancel, read, delimiter=True):
            for folder in page.get("CommonPrefixes", []):
                parsed = parse_account_folder(folder["Prefix"][len(root) :].rstrip("/"))
                if parsed is None:
                    continue
                account, hive = parsed
                if request.account_ids and account not in request.account_ids:
                    continue
                if request.hive_compatible is not None and hive != request.hive_compatible:
                    continue
                found.append(S3Layout(request.prefix, account, request.region, hive))
        if not found:
            wanted = ", ".join(request.account_ids) or "any account"
            raise SourceError(
                f"no flow log folders for {wanted} under s3://{request.bucket}/{root}"
            )
        return found

    def _candidates(
        self,
        s3: Any,
        bucket: str,
        layout: S3Layout,
        lo: datetime | None,
        hi: datetime,
        listing: _Listing,
        cancel: CancelCallback | None,
        read: Any,
    ) -> Iterator[_Candidate]:
        if lo is None:
            # No start: every day is in range, so list the region's keys in full.
            for page in self._pages(
                s3, bucket, layout.region_prefix, listing, cancel, read, delimiter=False
            ):
                yield from _contents(page)
            return
        for day in days_between(lo, hi):
            day_prefix = layout.day_prefix(day)
            day_start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            hours: list[str] = []
            for page in self._pages(s3, bucket, day_prefix, listing, cancel, read, delimiter=True):
                # Files straight under the day (no hourly partitions) and hour folders.
                yield from _contents(page)
                for folder in page.get("CommonPrefixes", []):
                    hour = layout.hour_of(day_prefix, folder["Prefix"])
                    if hour is None:
                        continue
                    hour_start = day_start + timedelta(hours=hour)
                    if hour_start + timedelta(hours=1) <= lo or hour_start > hi:
                        listing.hour_prefixes_skipped += 1
                        continue
                    hours.append(folder["Prefix"])
            for hour_prefix in hours:
                for page in self._pages(
                    s3, bucket, hour_prefix, listing, cancel, read, delimiter=False
                ):
                    yield from _contents(page)

    def _choose(
        self,
        item: _Candidate,
        layout: S3Layout,
        request: FetchRequest,
        lo: datetime | None,
        hi: datetime,
        listing: _Listing,
    ) -> _Selected | None:
        name = item.key.rsplit("/", 1)[-1]
        if not name or content_for_name(name) is None:
            listing.skip(item, SKIP_NOT_FLOW_LOG, None)
            return None
        parsed = parse_file_name(name)
        timestamp = None if parsed is None else parsed.timestamp
        if (
            parsed is not None
            and request.flow_log_ids
            and (parsed.flow_log_id not in request.flow_log_ids)
        ):
            listing.skip(item, SKIP_OTHER_FLOW_LOG, timestamp)
            return None
        if timestamp is not None and ((lo is not None and timestamp < lo) or timestamp > hi):
            listing.skip(item, SKIP_OUTSIDE_WINDOW, timestamp)
            return None
        return _Selected(item.key, item.size, item.etag, timestamp, layout)

    # -- downloading ------------------------------------------------------------------------

    @staticmethod
    def _local_names(selected: list[_Selected], dest_dir: str) -> dict[str, str]:
        names: dict[str, str] = {}
        used: set[str] = set()
        for index, item in enumerate(selected):
            base = item.key.rsplit("/", 1)[-1]
            name = base if base not in used else f"{index:06d}-{base}"
            used.add(name)
            names[item.key] = os.path.join(dest_dir, name)
        return names

    def _download_all(
        self,
        s3: Any,
        bucket: str,
        selected: list[_Selected],
        names: dict[str, str],
        progress: ProgressCallback | None,
        cancel: CancelCallback | None,
    ) -> Iterator[tuple[_Selected, FetchedFile]]:
        """Download in parallel, at most `max_workers` objects in flight. `cancel` and
        `progress` run here, in the caller's thread, between objects."""
        total = len(selected)
        remaining = iter(selected)
        pending: dict[Future[FetchedFile], _Selected] = {}
        done_count = 0
        cancelled = False
        with ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="s3") as pool:
            try:
                while True:
                    while not cancelled and len(pending) < self.max_workers:
                        item = next(remaining, None)
                        if item is None:
                            break
                        if cancel is not None and cancel():
                            cancelled = True
                            break
                        future = pool.submit(_download, s3, bucket, item, names[item.key])
                        pending[future] = item
                    if not pending:
                        break
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        item = pending.pop(future)
                        fetched = future.result()
                        done_count += 1
                        report(
                            progress,
                            f"Downloading {done_count} of {total} objects",
                            0.05 + 0.95 * done_count / max(total, 1),
                        )
                        yield item, fetched
            finally:
                for future in pending:
                    future.cancel()
        if cancelled:
            raise _Cancelled


class _Cancelled(Exception):
    pass


def _describe_objects(
    downloaded: list[tuple[_Selected, FetchedFile]], order: dict[str, int]
) -> dict[str, Any]:
    """The objects read, in stamp order (not download order), so the digest is stable."""
    objects = ListedItems()
    for item, fetched in sorted(downloaded, key=lambda pair: order[pair[0].key]):
        objects.add(
            {
                "key": item.key,
                "size": item.size,
                "etag": item.etag,
                "timestamp": None if item.timestamp is None else item.timestamp.isoformat(),
                "file": os.path.basename(fetched.path),
                "content": fetched.content,
            },
            f"{item.key} {item.etag} {item.size}",
        )
    return objects.describe("objects")


def _stamp_order(item: _Selected) -> tuple[datetime, str]:
    return (item.timestamp or datetime.min.replace(tzinfo=UTC), item.key)


def _contents(page: dict[str, Any]) -> Iterator[_Candidate]:
    for raw in page.get("Contents", []):
        modified = raw.get("LastModified")
        yield _Candidate(
            key=raw["Key"],
            size=int(raw.get("Size", 0)),
            etag=str(raw.get("ETag", "")),
            last_modified=modified.isoformat() if isinstance(modified, datetime) else "",
        )


def _download(s3: Any, bucket: str, item: _Selected, path: str) -> FetchedFile:
    """Stream one object to `path` (through a `.part` file, so no half file is left)."""
    part = f"{path}.part"
    where = f"s3://{bucket}/{item.key}"
    try:
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": item.key}
        if item.etag:
            # The bytes read are exactly the version the listing recorded.
            kwargs["IfMatch"] = item.etag
        response = s3.get_object(**kwargs)
        body = response["Body"]
        written = 0
        try:
            with open(part, "wb") as out:
                for chunk in body.iter_chunks(_CHUNK):
                    out.write(chunk)
                    written += len(chunk)
        finally:
            body.close()
        expected = int(response.get("ContentLength", written))
        if written != expected:
            raise SourceError(f"short download of {where}: {written} of {expected} bytes")
        os.replace(part, path)
    except (ClientError, BotoCoreError) as exc:
        _remove(part)
        raise _aws_error(exc, "s3:GetObject", where) from exc
    except BaseException:
        _remove(part)
        raise
    return FetchedFile(
        path=path, content=content_of(path), flow_format=None, bytes=written, origin=where
    )


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)
