"""FlowFormat: the AWS field list, LogFormat strings and header lines."""

from __future__ import annotations

import pytest

from analysis.formats import (
    DEFAULT_FORMAT,
    KNOWN_FIELDS,
    TRANSIT_GATEWAY_FORMAT,
    FieldKind,
    FlowFormat,
    looks_like_header,
)


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


def test_it_knows_every_field_of_versions_2_to_10_and_of_transit_gateway_logs() -> None:
    # 42 VPC fields (version 10 ends with resource-id and encryption-status) and the 18 only
    # Transit Gateway flow logs have.
    assert len(KNOWN_FIELDS) == 60
    by_name = {field.name: field for field in KNOWN_FIELDS}
    assert by_name["reject-reason"].version == 8
    assert by_name["resource-id"].version == 9
    assert by_name["encryption-status"].version == 10
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
        "encryption-status",
        "packets-lost-no-route",
        "packets-lost-blackhole",
        "packets-lost-mtu-exceeded",
        "packets-lost-ttl-expired",
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


def test_a_header_keeps_a_field_it_does_not_know_as_text() -> None:
    fmt = FlowFormat.from_header("version srcaddr dstaddr next-hop-az-id")
    unknown = fmt.fields[3]
    assert (unknown.name, unknown.kind) == ("next-hop-az-id", FieldKind.TEXT)
    assert unknown.sql_type == "VARCHAR"
    assert not unknown.known
    # Prefixed, so that no unknown field can take a column the loader or an analysis uses.
    assert unknown.column == "extra_next_hop_az_id"
    assert fmt.unknown_names == ["next-hop-az-id"]


def test_a_log_format_from_aws_keeps_unknown_fields_only_when_asked() -> None:
    text = "${version} ${srcaddr} ${src-ip}"
    with pytest.raises(ValueError, match="unknown flow log field 'src-ip'"):
        FlowFormat.parse(text)
    fmt = FlowFormat.parse(text, allow_unknown=True)
    assert fmt.columns == ["version", "srcaddr", "extra_src_ip"]


def test_header_detection_takes_unknown_fields_when_most_are_known() -> None:
    assert looks_like_header("version srcaddr dstaddr encryption-status some-new-field")
    assert not looks_like_header("vpc-abc subnet-def eni-123")  # values, none a field
    assert not looks_like_header("version srcaddr DROP")  # not spelled like a field


def test_transit_gateway_format_has_its_own_fields() -> None:
    assert TRANSIT_GATEWAY_FORMAT.is_transit_gateway
    assert not DEFAULT_FORMAT.is_transit_gateway
    assert len(TRANSIT_GATEWAY_FORMAT) == 36
    by_name = {field.name: field for field in TRANSIT_GATEWAY_FORMAT}
    assert by_name["packets-lost-blackhole"].kind is FieldKind.INTEGER
    assert by_name["tgw-attachment-id"].kind is FieldKind.TEXT
    assert not TRANSIT_GATEWAY_FORMAT.has("action")
