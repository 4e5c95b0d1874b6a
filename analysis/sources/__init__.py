"""Log sources: turn where flow logs are, a time window and a target into local files."""

# The source modules are imported for their @register side effect.
from analysis.sources import cloudwatch, files, s3  # noqa: F401
from analysis.sources.base import (
    DEFAULT_SLACK,
    ClientFactory,
    FetchCancelled,
    FetchedFile,
    FetchRequest,
    FetchResult,
    FlowLogSource,
    SourceError,
    all_sources,
    get_source,
    parse_log_format,
    register,
    source_kind_for,
)
from analysis.sources.cloudwatch import CloudWatchFlowLogSource
from analysis.sources.files import FileFlowLogSource
from analysis.sources.s3 import S3FlowLogSource

__all__ = [
    "DEFAULT_SLACK",
    "ClientFactory",
    "CloudWatchFlowLogSource",
    "FetchCancelled",
    "FetchRequest",
    "FetchResult",
    "FetchedFile",
    "FileFlowLogSource",
    "FlowLogSource",
    "S3FlowLogSource",
    "SourceError",
    "all_sources",
    "get_source",
    "parse_log_format",
    "register",
    "source_kind_for",
]
