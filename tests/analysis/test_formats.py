"""FlowFormat: the AWS field list, LogFormat strings and header lines."""

from __future__ import annotations

import pytest

from analysis.formats import DEFAULT_FORMAT, KNOWN_FIELDS, FieldKind, FlowFormat, looks_like_header


def test_default_format_is_the_v2_default() -> None:
    assert DEFAULT_FORMAT.names == [
        "version",
        "account-id",
        "interface-id",
        "srcaddr",
        "dstaddr",
        "srcport",
        "dstport",
        "protocol",
        "packets",
        "bytes",
        "start",
        "end",
        "action",
        "log-status",
    ]
    assert DEFAULT_FORMAT.columns[1] == "account_id"


def test_it_knows_every_field_of_versions_2_to_8() -> None:
    assert len(KNOWN_FIELDS) == 40
    by_name = {field.name: field for field in KNOWN_FIELDS}
    assert by_name["reject-reason"].version == 8
    assert by_name["ecs-task-id"].version == 7
    assert by_name["pkt-srcaddr"].column == "pkt_srcaddr"
    integers = {field.name for field in KNOWN_FIELDS if field.kind is FieldKind.INTEGER}
    assert integers == {
        "version",
        "srcport",
        "dstport",
        "protocol",
        "packets",
        "bytes",
        "start",
        "end",
        "tcp-flags",
        "traffic-path",
    }


def test_it_parses_an_aws_log_format_string() -> None:
    fmt = FlowFormat.parse("${version} ${vpc-id} ${srcaddr} ${dstaddr} ${tcp-flags}")
    assert fmt.names == ["version", "vpc-id", "srcaddr", "dstaddr", "tcp-flags"]
    assert fmt.to_log_format() == "${version} ${vpc-id} ${srcaddr} ${dstaddr} ${tcp-flags}"


def test_it_reads_a_header_line() -> None:
    fmt = FlowFormat.from_header("account-id  srcaddr dstaddr pkt-dst-aws-service\n")
    assert fmt.names == ["account-id", "srcaddr", "dstaddr", "pkt-dst-aws-service"]


def test_it_names_an_unknown_field() -> None:
    with pytest.raises(ValueError, match="unknown flow log field 'src-address'"):
        FlowFormat.parse("${version} ${src-address}")


def test_it_rejects_a_token_that_is_not_a_field_reference() -> None:
    with pytest.raises(ValueError, match=r"bad LogFormat token 'srcaddr'"):
        FlowFormat.parse("${version} srcaddr")


def test_it_rejects_a_repeated_field() -> None:
    with pytest.raises(ValueError, match="appears twice"):
        FlowFormat.from_header("srcaddr dstaddr srcaddr")


def test_header_detection_needs_every_token_to_be_a_field() -> None:
    assert looks_like_header("version account-id srcaddr")
    assert not looks_like_header("2 123456789012 eni-1 10.0.0.1")
    assert not looks_like_header("")
