"""The parameters the analyzer suite added to AnalysisParams."""

from __future__ import annotations

import pytest

from analysis.analyzers import AnalysisParams
from analysis.analyzers.params import DEFAULT_SENSITIVE_PORTS, DEFAULT_THRESHOLDS


def test_new_parameters_round_trip_through_plain_values() -> None:
    params = AnalysisParams.from_dict(
        {
            "target_interfaces": "eni-0a1b2c3d, eni-ffff",
            "extra_internal_cidrs": ["100.64.0.0/10", "2600:1f18::/32"],
            "sensitive_ports": "22:ssh, 8080, 3389",
            "thresholds": {"portscan_min_ports": "40"},
            "time_bin_seconds": "300",
            "graph_min_flows": 3,
            "graph_top_k": "50",
            "graph_pseudonyms": "true",
            "lookup_table": [[443, 6, "web"]],
            "cidr_tables": [{"name": "t", "entries": [["10.0.0.0/8", {"label": "corp"}]]}],
            "known_hosts": {"10.0.1.10": "web"},
        }
    )
    assert params.target_interfaces == ["eni-0a1b2c3d", "eni-ffff"]
    assert params.sensitive_ports == {22: "ssh", 3389: "rdp", 8080: ""}
    assert params.thresholds == {**DEFAULT_THRESHOLDS, "portscan_min_ports": 40.0}
    assert params.has_target
    data = params.to_dict()
    assert data["sensitive_ports"] == {"22": "ssh", "3389": "rdp", "8080": ""}
    assert AnalysisParams.from_dict(data) == params


def test_defaults_are_left_out_of_to_dict() -> None:
    data = AnalysisParams().to_dict()
    assert set(data) == {"target_ips", "target_cidrs", "vpc_cidrs", "port", "top_n", "rank_by"}
    assert AnalysisParams().sensitive_ports == DEFAULT_SENSITIVE_PORTS
    assert AnalysisParams.from_dict(data) == AnalysisParams()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"target_interfaces": ["i-123"]}, "not a network interface id"),
        ({"extra_internal_cidrs": ["10.0.0.1/8"]}, "not a CIDR block"),
        ({"sensitive_ports": "ssh"}, "sensitive_ports must be an integer"),
        ({"sensitive_ports": [70000]}, "port must be between"),
        ({"sensitive_ports": []}, "at least one port"),
        ({"thresholds": {"nope": 1}}, "unknown threshold"),
        ({"thresholds": {"portscan_min_ports": -1}}, "zero or more"),
        ({"thresholds": {"portscan_min_ports": "many"}}, "must be a number"),
        ({"time_bin_seconds": 0}, "time_bin_seconds must be at least 1"),
        ({"graph_top_k": 0}, "graph_top_k must be between"),
        ({"graph_min_flows": 0}, "graph_min_flows must be at least 1"),
        ({"graph_pseudonyms": "maybe"}, "true or false"),
        ({"lookup_table": [[443, "tcp", "web"]]}, "protocol must be an integer"),
        ({"lookup_table": [[443, 6, "web"], [443, 6, "other"]]}, "tagged twice"),
        ({"cidr_tables": [{"name": "t", "entries": [["10.0.0.1/8", {}]]}]}, "not a CIDR"),
        ({"known_hosts": {"10.0.0.300": "x"}}, "not an IP address"),
        ({"colour": "red"}, "unknown analysis parameter"),
    ],
)
def test_it_rejects_bad_new_values(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AnalysisParams.from_dict(data)
