"""AnalysisParams validation."""

from __future__ import annotations

import pytest

from analysis.analyzers import AnalysisParams


def test_from_dict_reads_plain_values() -> None:
    params = AnalysisParams.from_dict(
        {
            "target_ips": "10.0.1.10, 2001:DB8::1",
            "target_cidrs": ["10.0.0.0/16"],
            "vpc_cidrs": ["10.0.0.0/16", "10.1.0.0/16"],
            "port": "22",
            "top_n": 10,
            "rank_by": "bytes",
        }
    )
    assert params.target_ips == ["10.0.1.10", "2001:db8::1"]
    assert params.port == 22
    assert params.to_dict() == {
        "target_ips": ["10.0.1.10", "2001:db8::1"],
        "target_cidrs": ["10.0.0.0/16"],
        "vpc_cidrs": ["10.0.0.0/16", "10.1.0.0/16"],
        "port": 22,
        "top_n": 10,
        "rank_by": "bytes",
    }
    assert AnalysisParams.from_dict(params.to_dict()) == params


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"target_ips": ["10.0.0.300"]}, "not an IP address"),
        ({"target_cidrs": ["10.0.0.1/16"]}, "not a CIDR block"),
        ({"vpc_cidrs": ["10.0.0.0/40"]}, "not a CIDR block"),
        ({"port": 70000}, "port must be between 0 and 65535"),
        ({"port": "ssh"}, "port must be an integer"),
        ({"top_n": 0}, "top_n must be between"),
        # The run form's and the API's limit too: one limit everywhere.
        ({"top_n": 10_001}, "top_n must be between 1 and 10000"),
        ({"rank_by": "packets"}, "rank_by must be one of flows, bytes"),
        ({"colour": "red"}, "unknown analysis parameter"),
    ],
)
def test_it_rejects_bad_values_with_a_clear_message(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AnalysisParams.from_dict(data)
