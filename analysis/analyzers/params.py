"""AnalysisParams: the validated inputs shared by every analyzer."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from analysis.addresses import parse_cidr, parse_ip

RANK_BY_CHOICES = ("flows", "bytes")
MAX_TOP_N = 100_000


def _as_list(value: Any, name: str) -> list[str]:
    """Accept a list of strings, or one string of items separated by commas/whitespace."""
    if value is None:
        return []
    if isinstance(value, str):
        return [item for item in value.replace(",", " ").split() if item]
    if isinstance(value, list | tuple):
        items = []
        for item in value:
            if not isinstance(item, str):
                raise ValueError(f"{name} must hold strings, got {item!r}")
            if item.strip():
                items.append(item.strip())
        return items
    raise ValueError(f"{name} must be a list of strings, got {type(value).__name__}")


def _as_int(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


@dataclass
class AnalysisParams:
    """Targets (addresses and CIDRs), internal VPC ranges, a port, and top-N ranking."""

    target_ips: list[str] = field(default_factory=list)
    target_cidrs: list[str] = field(default_factory=list)
    vpc_cidrs: list[str] = field(default_factory=list)
    port: int | None = None
    top_n: int = 100
    rank_by: str = "flows"

    def __post_init__(self) -> None:
        self.target_ips = [str(parse_ip(ip)) for ip in self.target_ips]
        self.target_cidrs = [str(parse_cidr(cidr)) for cidr in self.target_cidrs]
        self.vpc_cidrs = [str(parse_cidr(cidr)) for cidr in self.vpc_cidrs]
        if self.port is not None and not 0 <= self.port <= 65535:
            raise ValueError(f"port must be between 0 and 65535, got {self.port}")
        if not 1 <= self.top_n <= MAX_TOP_N:
            raise ValueError(f"top_n must be between 1 and {MAX_TOP_N}, got {self.top_n}")
        if self.rank_by not in RANK_BY_CHOICES:
            raise ValueError(
                f"rank_by must be one of {', '.join(RANK_BY_CHOICES)}, got {self.rank_by!r}"
            )

    @property
    def has_target(self) -> bool:
        return bool(self.target_ips or self.target_cidrs)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnalysisParams:
        """Build from plain values (form or JSON); unknown keys are an error."""
        known = {"target_ips", "target_cidrs", "vpc_cidrs", "port", "top_n", "rank_by"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown analysis parameter(s): {', '.join(unknown)}")
        top_n = _as_int(data.get("top_n"), "top_n")
        return cls(
            target_ips=_as_list(data.get("target_ips"), "target_ips"),
            target_cidrs=_as_list(data.get("target_cidrs"), "target_cidrs"),
            vpc_cidrs=_as_list(data.get("vpc_cidrs"), "vpc_cidrs"),
            port=_as_int(data.get("port"), "port"),
            top_n=100 if top_n is None else top_n,
            rank_by=str(data.get("rank_by") or "flows"),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
