"""AWS services named by an uploaded ip-ranges.json: a nightly backup to S3 is not
exfiltration, and what was spared is said in the summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from analysis.detections.base import AwsServiceRanges
from analysis.detections.exfiltration import UNUSUAL_OUTBOUND_VOLUME_DETECTION
from analysis.engine import FlowEngine
from analysis.findings import UNUSUAL_OUTBOUND_VOLUME
from analysis.reference import parse_cidr_table

# AWS's published format, two prefixes of it (S3 and an EC2 range holding the attack's peer's
# neighbour, not the peer itself).
IP_RANGES = {
    "syncToken": "1700000000",
    "createDate": "2023-11-14-00-00-00",
    "prefixes": [
        {"ip_prefix": "185.220.101.0/24", "region": "eu-west-1", "service": "S3",
         "network_border_group": "eu-west-1"},
        {"ip_prefix": "185.220.101.0/24", "region": "eu-west-1", "service": "AMAZON",
         "network_border_group": "eu-west-1"},
        {"ip_prefix": "52.94.0.0/22", "region": "us-east-1", "service": "EC2",
         "network_border_group": "us-east-1"},
    ],
    "ipv6_prefixes": [
        {"ipv6_prefix": "2a05:d018::/36", "region": "eu-west-1", "service": "S3",
         "network_border_group": "eu-west-1"},
    ],
}  # fmt: skip


def _aws_table() -> dict[str, Any]:
    return parse_cidr_table(json.dumps(IP_RANGES)).as_param("AWS ranges")


def test_the_ranges_name_the_most_specific_service() -> None:
    ranges = AwsServiceRanges([_aws_table()])
    assert ranges.service_of("185.220.101.7") == "S3"  # AMAZON, the superset, gives way
    assert ranges.service_of("52.94.3.255") == "EC2"
    assert ranges.service_of("2a05:d018:0fff::1") == "S3"
    assert ranges.service_of("52.94.4.0") is None and ranges.service_of("10.0.0.1") is None
    assert ranges.service_of("not an address") is None and ranges.service_of(None) is None
    assert not AwsServiceRanges([{"name": "x", "entries": [["10.0.0.0/8", {"site": "hq"}]]}])


def test_a_transfer_to_an_aws_service_is_no_exfiltration_and_is_said_so(tmp_path: Path) -> None:
    [case] = [
        c for c in UNUSUAL_OUTBOUND_VOLUME_DETECTION.cases if c.name == "6 GB to one new peer"
    ]
    log = tmp_path / "backup.log"
    log.write_text("\n".join(case.lines) + "\n")
    with FlowEngine() as engine:
        engine.load_files([str(log)])
        plain = engine.run("detections", {})
        spared = engine.run("detections", {"cidr_tables": [_aws_table()]})
    assert [f["type"] for f in plain.findings] == [UNUSUAL_OUTBOUND_VOLUME]
    assert spared.findings == []
    assert spared.summary["aws_services_left_out"] == [
        {"title": plain.findings[0]["title"], "service": "S3"}
    ]
    assert "aws_services_left_out" not in plain.summary
