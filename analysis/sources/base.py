"""The FlowLogSource base class, its request and result types, and the registry of sources."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import timedelta
from typing import Any, ClassVar, TypeVar

from analysis.formats import DEFAULT_FORMAT, FlowFormat
from analysis.window import TimeWindow, parse_time

# (service name, region) -> a boto3 client. Sources never make clients: the caller passes a
# factory built on analysis.aws, so credentials, timeouts and retries are set in one place.
ClientFactory = Callable[[str, str], Any]
ProgressCallback = Callable[[str, float], None]
CancelCallback = Callable[[], bool]

# Flow log files and CloudWatch events are stamped by delivery, not by the flows they hold:
# records come up to one aggregation interval (10 minutes by default) before the stamp and
# may be delivered late. Everything stamped this long either side of the window is read; the
# engine then keeps only the records that overlap the window itself.
DEFAULT_SLACK = timedelta(minutes=15)

# Lists in a `read` description stop here; their counts (and digests) always cover everything.
MAX_LISTED = 1000

TEXT = "text"
PARQUET = "parquet"


class SourceError(Exception):
    """A source could not fetch what was asked (bad request, unreadable file, short download)."""


class FetchCancelled(Exception):
    """`cancel()` returned True; `read` describes what had been fetched until then."""

    def __init__(self, read: dict[str, Any]) -> None:
        super().__init__("fetch cancelled")
        self.read = read


def parse_log_format(spec: str) -> FlowFormat:
    """A flow log's format from its LogFormat (`${version} ${srcaddr} ...`), a header-style
    list of field names (`version srcaddr ...`), or the AWS default (v2) when `spec` is empty.
    A field AWS added that is not known here is kept as text (the flow log's own format)."""
    text = spec.strip()
    if not text:
        return DEFAULT_FORMAT
    if "${" in text:
        return FlowFormat.parse(text, allow_unknown=True)
    return FlowFormat.from_header(text)


def _tuple(values: Iterable[str] | str | None) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        values = [values]
    return tuple(dict.fromkeys(str(value).strip() for value in values if str(value).strip()))


@dataclass(frozen=True)
class FetchRequest:
    """Where the flow logs are, which time window and which target. Each source reads the
    fields it needs and ignores the others:

    - file: `paths` (local files); `log_format` for files without a header line.
    - s3: `bucket`, `prefix` (what comes before `AWSLogs/`), `region`; optional `account_ids`
      (default: every account found under `AWSLogs/`), `hive_compatible` (None: both layouts),
      `flow_log_ids` (only files of these flow logs).
    - cloudwatch: `log_group`, `region`, `interface_ids` (only their streams; empty: every
      stream), `log_format` (the flow log's LogFormat; empty: the AWS default v2).

    `slack` widens the window for selecting files and events; see DEFAULT_SLACK.

    `shard_index` of `shard_count` asks for one of that many disjoint parts of what the request
    reads, so several workers can fetch one window in parallel: S3 objects are dealt out in
    turn, CloudWatch events by their timestamp. Every object or event belongs to exactly one
    shard, so the shards' records together are exactly the unsharded request's.
    """

    window: TimeWindow = field(default_factory=TimeWindow)
    paths: tuple[str, ...] = ()
    region: str = ""
    bucket: str = ""
    prefix: str = ""
    account_ids: tuple[str, ...] = ()
    hive_compatible: bool | None = None
    flow_log_ids: tuple[str, ...] = ()
    log_group: str = ""
    interface_ids: tuple[str, ...] = ()
    log_format: str = ""
    slack: timedelta = DEFAULT_SLACK
    shard_index: int = 0
    shard_count: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.shard_index < self.shard_count:
            raise ValueError(f"shard {self.shard_index} of {self.shard_count} does not exist")
        for name in ("paths", "account_ids", "flow_log_ids", "interface_ids"):
            object.__setattr__(self, name, _tuple(getattr(self, name)))
        if self.slack < timedelta(0):
            raise ValueError(f"slack must not be negative, got {self.slack}")
        prefix = self.prefix.strip("/")
        object.__setattr__(self, "prefix", f"{prefix}/" if prefix else "")

    @property
    def flow_format(self) -> FlowFormat:
        return parse_log_format(self.log_format)

    @property
    def sharded(self) -> bool:
        return self.shard_count > 1

    def shard_range_ms(self, start_ms: int, end_ms: int) -> tuple[int, int]:
        """This shard's part of the inclusive millisecond range [start_ms, end_ms]: the parts
        of all shards are inclusive, disjoint and cover the range."""
        span = end_ms - start_ms + 1
        low = start_ms + span * self.shard_index // self.shard_count
        high = start_ms + span * (self.shard_index + 1) // self.shard_count - 1
        return low, high

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; `from_dict` reads it back (for storing a run's request)."""
        data: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "window":
                value = value.to_dict()
            elif item.name == "slack":
                value = value.total_seconds()
            elif isinstance(value, tuple):
                value = list(value)
            data[item.name] = value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FetchRequest:
        known = {item.name for item in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fetch request fields: {', '.join(sorted(unknown))}")
        values = dict(data)
        window = values.pop("window", None) or {}
        values["window"] = (
            window
            if isinstance(window, TimeWindow)
            else TimeWindow(
                None if window.get("start") is None else parse_time(window["start"]),
                None if window.get("end") is None else parse_time(window["end"]),
            )
        )
        if "slack" in values and not isinstance(values["slack"], timedelta):
            values["slack"] = timedelta(seconds=float(values["slack"]))
        return cls(**values)

    @classmethod
    def for_flow_log(
        cls,
        flow_log: Mapping[str, Any],
        *,
        window: TimeWindow,
        interface_ids: Iterable[str] = (),
        slack: timedelta = DEFAULT_SLACK,
    ) -> FetchRequest:
        """A request for one flow log as `analysis.aws.normalize_flow_log` describes it."""
        account = str(flow_log.get("account_id", "") or "")
        flow_log_id = str(flow_log.get("flow_log_id", "") or "")
        return cls(
            window=window,
            region=str(flow_log.get("region", "") or ""),
            bucket=str(flow_log.get("s3_bucket", "") or ""),
            prefix=str(flow_log.get("s3_prefix", "") or ""),
            account_ids=(account,) if account else (),
            hive_compatible=(
                bool(flow_log["hive_compatible_partitions"])
                if "hive_compatible_partitions" in flow_log
                else None
            ),
            flow_log_ids=(flow_log_id,) if flow_log_id else (),
            log_group=str(flow_log.get("log_group_name", "") or ""),
            interface_ids=tuple(interface_ids),
            log_format=str(flow_log.get("log_format", "") or ""),
            slack=slack,
        )


def source_kind_for(flow_log: Mapping[str, Any]) -> str:
    """The source kind that reads a flow log, from its destination type."""
    destination = str(flow_log.get("destination_type", "") or "cloud-watch-logs")
    kinds = {"cloud-watch-logs": "cloudwatch", "s3": "s3"}
    if destination not in kinds:
        raise SourceError(f"flow logs sent to {destination!r} cannot be read by the portal")
    return kinds[destination]


@dataclass(frozen=True)
class FetchedFile:
    """One local file to load: `content` is "text" (plain or gzip) or "parquet";
    `flow_format` None means the file's header line gives its fields."""

    path: str
    content: str
    flow_format: FlowFormat | None
    bytes: int
    origin: str


@dataclass
class FetchResult:
    """The local files a source produced and a JSON-ready description of what it read."""

    kind: str
    files: list[FetchedFile]
    read: dict[str, Any]

    @property
    def paths(self) -> list[str]:
        return [item.path for item in self.files]

    def format_for(self, path: str) -> FlowFormat | None:
        for item in self.files:
            if item.path == path:
                return item.flow_format
        raise KeyError(path)

    @property
    def text_files(self) -> list[FetchedFile]:
        return [item for item in self.files if item.content == TEXT]

    @property
    def parquet_paths(self) -> list[str]:
        return [item.path for item in self.files if item.content == PARQUET]

    def load_groups(self) -> list[tuple[FlowFormat | None, list[str]]]:
        """Text files grouped by format, in order: one `FlowEngine.load_files(paths,
        flow_format=...)` call each. Parquet files are not included (see `parquet_paths`)."""
        groups: dict[FlowFormat | None, list[str]] = {}
        for item in self.text_files:
            groups.setdefault(item.flow_format, []).append(item.path)
        return list(groups.items())


class ListedItems:
    """Entries for a `read` description: the first MAX_LISTED kept, every one counted and
    folded into a digest, so the full set can be checked even when the list is cut."""

    def __init__(self, limit: int = MAX_LISTED) -> None:
        self.limit = limit
        self.items: list[dict[str, Any]] = []
        self.count = 0
        self._digest = hashlib.sha256()

    def add(self, item: dict[str, Any], identity: str) -> None:
        self.count += 1
        self._digest.update(identity.encode("utf-8", "surrogateescape") + b"\n")
        if len(self.items) < self.limit:
            self.items.append(item)

    @property
    def truncated(self) -> bool:
        return self.count > len(self.items)

    @property
    def digest(self) -> str:
        return self._digest.hexdigest()

    def describe(self, name: str) -> dict[str, Any]:
        """`{name: [...], name_count: n, name_truncated: bool, name_digest: sha256}`."""
        return {
            name: list(self.items),
            f"{name}_count": self.count,
            f"{name}_truncated": self.truncated,
            f"{name}_digest": self.digest,
        }


def report(progress: ProgressCallback | None, message: str, fraction: float) -> None:
    if progress is not None:
        progress(message, max(0.0, min(1.0, fraction)))


def require(source: str, needed: dict[str, object]) -> None:
    """Raise SourceError naming the first of `needed` (what -> value) that the request lacks."""
    for what, value in needed.items():
        if not value:
            raise SourceError(f"the {source} source needs {what}")


def check_cancel(cancel: CancelCallback | None, read: Callable[[], dict[str, Any]]) -> None:
    if cancel is not None and cancel():
        raise FetchCancelled(read())


class FlowLogSource:
    """Turns "where the flow logs are + window + target" into local files for the engine.

    Subclasses set `kind`, `title`, `description` and implement `fetch`. Construct with
    `clients`, a ClientFactory (sources that read AWS need it; the file source ignores it).
    `progress` and `cancel` are only ever called from the thread that called `fetch`.
    """

    kind: ClassVar[str] = ""
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def __init__(self, *, clients: ClientFactory | None = None) -> None:
        self.clients = clients

    def client(self, service: str, region: str) -> Any:
        if self.clients is None:
            raise SourceError(f"the {self.kind} source needs a client factory (clients=...)")
        return self.clients(service, region)

    def fetch(
        self,
        request: FetchRequest,
        *,
        dest_dir: str,
        progress: ProgressCallback | None = None,
        cancel: CancelCallback | None = None,
    ) -> FetchResult:
        raise NotImplementedError

    @classmethod
    def describe(cls) -> dict[str, str]:
        return {"kind": cls.kind, "title": cls.title, "description": cls.description}


SourceType = TypeVar("SourceType", bound=type[FlowLogSource])

_REGISTRY: dict[str, type[FlowLogSource]] = {}


def register(cls: SourceType) -> SourceType:
    """Class decorator: make a source findable by its `kind`."""
    if not cls.kind:
        raise ValueError(f"{cls.__name__} has no kind")
    if cls.kind in _REGISTRY and _REGISTRY[cls.kind] is not cls:
        raise ValueError(f"a source of kind {cls.kind!r} is already registered")
    _REGISTRY[cls.kind] = cls
    return cls


def get_source(kind: str) -> type[FlowLogSource]:
    """The source class registered as `kind`; instantiate it with `clients=...`."""
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise ValueError(
            f"unknown log source {kind!r}; known sources: {', '.join(sorted(_REGISTRY))}"
        ) from None


def all_sources() -> list[type[FlowLogSource]]:
    return [_REGISTRY[kind] for kind in sorted(_REGISTRY)]
