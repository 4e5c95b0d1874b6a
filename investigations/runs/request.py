"""RunRequest: the one builder of a run request, from the page's form or the API's serializer
(each checks only the shape of its input): the source arguments, the analysis parameters with
their defaults and limits, the window, the reference tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from analysis.analyzers.params import DEFAULT_TOP_N, MAX_TOP_N

__all__ = ["DEFAULT_TOP_N", "MAX_TOP_N", "RunRequest"]

DEFAULT_RANK_BY = "flows"


@dataclass(frozen=True)
class RunRequest:
    """What `runs.submit.submit_run` needs to start a run, besides who asks."""

    investigation: Any
    analyses: list[str]
    parameters: dict[str, Any]
    files: Sequence[Any] = ()
    window_start: datetime | None = None
    window_end: datetime | None = None
    reference_tables: Sequence[Any] = ()
    account: Any = None
    aws: dict[str, Any] = field(default_factory=dict)  # instance, source, flow log, interfaces
    log_format: str = ""  # uploads only: the fields of header-less files (`${version} ...`)
    reuse_uploads: Sequence[Any] = ()  # no new files: an earlier run's uploads, read again

    @classmethod
    def build(
        cls,
        *,
        investigation: Any,
        analyses: Sequence[str],
        targets: Sequence[str] = (),
        vpc_cidrs: Sequence[str] = (),
        port: int | None = None,
        top_n: int | None = None,
        rank_by: str | None = None,
        sensitive_ports: dict[Any, str] | None = None,
        thresholds: dict[str, float] | None = None,
        files: Sequence[Any] = (),
        account: Any = None,
        instance: str = "",
        source: str = "auto",
        flow_log_id: str = "",
        interfaces: Sequence[str] = (),
        engine: str = "auto",
        window_start: datetime | None = None,
        window_end: datetime | None = None,
        reference_tables: Sequence[Any] = (),
        log_format: str = "",
        reuse_uploads: Sequence[Any] = (),
    ) -> RunRequest:
        """A request from already-typed values. Targets are addresses or CIDRs (told apart
        here); `sensitive_ports`, when given, replaces the default list."""
        parameters: dict[str, Any] = {
            "target_ips": [t for t in targets if "/" not in t],
            "target_cidrs": [t for t in targets if "/" in t],
            "vpc_cidrs": list(vpc_cidrs),
            "port": port,
            "top_n": top_n or DEFAULT_TOP_N,
            "rank_by": rank_by or DEFAULT_RANK_BY,
        }
        if sensitive_ports is not None:
            parameters["sensitive_ports"] = {str(p): name for p, name in sensitive_ports.items()}
        if thresholds is not None:
            parameters["thresholds"] = dict(thresholds)
        aws: dict[str, Any] = {}
        if account is not None:
            aws = {
                "instance": instance.strip(),
                "source": source or "auto",
                "flow_log_id": flow_log_id.strip(),
                "interfaces": list(interfaces),
                "engine": engine or "auto",
            }
        return cls(
            investigation=investigation,
            analyses=list(analyses),
            parameters=parameters,
            files=() if account is not None else list(files),
            window_start=window_start,
            window_end=window_end,
            reference_tables=list(reference_tables),
            account=account,
            aws=aws,
            log_format="" if account is not None else log_format.strip(),
            reuse_uploads=() if account is not None or files else list(reuse_uploads),
        )

    def arguments(self) -> dict[str, Any]:
        """The keyword arguments of `submit_run` (and `submit_run_idempotent`)."""
        source: dict[str, Any] = (
            {"account": self.account, **self.aws}
            if self.account is not None
            else {
                "files": self.files,
                "log_format": self.log_format,
                "reuse_uploads": self.reuse_uploads,
            }
        )
        return {
            "investigation": self.investigation,
            "analyses": self.analyses,
            "parameters": self.parameters,
            **source,
            "reference_tables": self.reference_tables,
            "window_start": self.window_start,
            "window_end": self.window_end,
        }
