"""Detections and the sensitive-ports analysis judge internal and external on the packet's
address (pkt-srcaddr/pkt-dstaddr) where the logs carry it, and keep the logged address too.

The records follow AWS's "NAT gateway" flow log example (VPC user guide, flow log record
examples): instance 10.0.1.5 in a private subnet reaches internet host 203.0.113.5 through
NAT gateway 10.0.0.220, and the NAT gateway's interface logs four records per connection:
instance to NAT (pkt-dstaddr the internet host), NAT to host, host to NAT, and NAT to
instance (pkt-srcaddr the internet host).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlglot

from analysis.addresses import hex_address, ip_to_int
from analysis.analyzers import AnalysisParams
from analysis.athena.render import render
from analysis.detections.base import Context, packet_views
from analysis.engine import FlowEngine
from analysis.findings import BEACONING, Finding
from tests.analysis.detections.test_catalogue import V5_COLUMNS

INSTANCE, NAT, HOST = "10.0.1.5", "10.0.0.220", "203.0.113.5"
FIELDS = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes "
    "start end action log-status"
)
V5_HEADER = f"{FIELDS} pkt-srcaddr pkt-dstaddr"
T0 = 1_700_000_000


def _record(src: str, dst: str, sport: int, dport: int, size: int, start: int) -> str:
    return (
        f"5 123456789010 eni-1235b8ca123456789 {src} {dst} {sport} {dport} 6 "
        f"{max(size // 100, 1)} {size} {start} {start + 1} ACCEPT OK"
    )


def nat_records(count: int = 40, every: int = 60) -> list[tuple[str, str, str]]:
    """The NAT gateway interface's records of `count` check-ins of the instance with the
    internet host, one every `every` seconds: (logged record, pkt-srcaddr, pkt-dstaddr)."""
    out = []
    for n in range(count):
        start, size = T0 + n * every, 420 + n % 5
        client, translated = 40000 + n, 50000 + n
        out += [
            (_record(INSTANCE, NAT, client, 443, size, start), INSTANCE, HOST),
            (_record(NAT, HOST, translated, 443, size, start), NAT, HOST),
            (_record(HOST, NAT, 443, translated, size, start), HOST, NAT),
            (_record(NAT, INSTANCE, 443, client, size, start), HOST, INSTANCE),
        ]
    return out


def _findings(tmp_path: Path, name: str, text: str, **params: Any) -> list[dict[str, Any]]:
    log = tmp_path / name
    log.write_text(text)
    with FlowEngine() as engine:
        engine.load_files([str(log)])
        return engine.run("detections", params).findings


def _with_packet_fields(records: list[tuple[str, str, str]]) -> str:
    return "\n".join([V5_HEADER, *(f"{line} {src} {dst}" for line, src, dst in records)]) + "\n"


def _logged_only(records: list[tuple[str, str, str]]) -> str:
    return "\n".join([FIELDS, *(line for line, _src, _dst in records)]) + "\n"


def _beacons(findings: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Beaconing findings by (host, peer)."""
    return {
        (f["evidence"]["targets"][0], f["evidence"]["peer"]): f
        for f in findings
        if f["detection_id"] == "beaconing"
    }


def test_beaconing_through_a_nat_gateway_names_the_instance(tmp_path: Path) -> None:
    records = nat_records()
    beacons = _beacons(_findings(tmp_path, "nat.log", _with_packet_fields(records)))
    # The instance's own check-ins are external traffic now: its records at the NAT have
    # dstaddr = the NAT's private address, pkt-dstaddr = the internet host.
    instance = beacons[(INSTANCE, HOST)]
    evidence = instance["evidence"]
    assert evidence["flows"] == 40 and evidence["interval_seconds"] == 60.0
    assert evidence["actors"] == [HOST, INSTANCE]
    # Both views: the host was logged as the NAT's address on the instance's side.
    assert evidence["via"] == {HOST: [NAT]}
    assert f"{HOST} via {NAT}" in instance["explanation"]
    # The NAT's own translated connections are still seen as they were logged.
    assert (NAT, HOST) in beacons

    # The same records without pkt-srcaddr/pkt-dstaddr: only the NAT is seen beaconing, and
    # no finding carries a `via`.
    logged = _findings(tmp_path, "logged.log", _logged_only(records))
    assert set(_beacons(logged)) == {(NAT, HOST)}
    assert all("via" not in f["evidence"] for f in logged)


def test_a_target_behind_the_nat_is_matched_on_either_address(tmp_path: Path) -> None:
    text = _with_packet_fields(nat_records())
    # The NAT's address as the target still keeps the findings whose records it logged.
    by_nat = _beacons(_findings(tmp_path, "a.log", text, target_ips=[NAT]))
    assert set(by_nat) == {(INSTANCE, HOST), (NAT, HOST)}
    by_instance = _beacons(_findings(tmp_path, "b.log", text, target_ips=[INSTANCE]))
    assert set(by_instance) == {(INSTANCE, HOST)}


def test_unusual_outbound_volume_through_a_nat_gateway(tmp_path: Path) -> None:
    # Ten ordinary peers reached directly, and 6 GB to one host through the NAT gateway,
    # logged only at the NAT's interface: the instance's records there go to the NAT.
    records = [
        (_record("10.0.2.20", f"52.94.{n}.1", 40000 + n, 443, 50_000, T0 + n), "-", "-")
        for n in range(10)
    ]
    for n in range(12):
        start = T0 + 100 + n
        records.append((_record(INSTANCE, NAT, 41000 + n, 443, 500_000_000, start), INSTANCE, HOST))
    findings = _findings(tmp_path, "exfil.log", _with_packet_fields(records))
    [volume] = [f for f in findings if f["detection_id"] == "unusual-outbound-volume"]
    assert volume["evidence"]["peer"] == HOST
    assert volume["evidence"]["targets"] == [INSTANCE]
    assert volume["evidence"]["via"] == {HOST: [NAT]}
    # Judged on srcaddr/dstaddr alone, it is one internal address talking to another.
    logged = _findings(tmp_path, "exfil-logged.log", _logged_only(records))
    assert not [f for f in logged if f["detection_id"] == "unusual-outbound-volume"]


def test_packet_fields_with_no_value_change_nothing(tmp_path: Path) -> None:
    # "-" in pkt-srcaddr/pkt-dstaddr: the logged addresses stand in, finding for finding.
    records = [(line, "-", "-") for line, _src, _dst in nat_records()]
    dashed = _findings(tmp_path, "dashed.log", _with_packet_fields(records))
    logged = _findings(tmp_path, "plain.log", _logged_only(records))
    assert dashed and dashed == logged


def test_the_via_lookup_renders_for_athena() -> None:
    sent: list[str] = []

    def fetch(sql: str) -> list[tuple[object, ...]]:
        sent.append(sql)
        return [(ip_to_int(HOST), ip_to_int(NAT), 3)]

    ctx = Context(fetch, AnalysisParams.from_dict({}), V5_COLUMNS)
    finding = Finding(type=BEACONING, severity=6, title="t", explanation="e.",
                      evidence={"peer": HOST, "actors": [HOST, INSTANCE], "targets": [INSTANCE]})  # fmt: skip
    [(seen, touched)] = packet_views(ctx, [(finding, True)])
    assert seen.evidence["via"] == {HOST: [NAT]} and touched
    [sql] = sent
    rendered = render(sql, "SELECT * FROM flowlogs.t")
    assert sqlglot.parse_one(rendered, read="trino") is not None
    assert hex_address(ip_to_int(HOST)) in rendered and "UHUGEINT" not in rendered.upper()
    # Without the packet fields there is nothing to look up.
    plain = Context(fetch, AnalysisParams.from_dict({}), V5_COLUMNS - {"pkt_src_ip", "pkt_dst_ip"})
    assert packet_views(plain, [(finding, True)]) == [(finding, True)] and len(sent) == 1


def _sensitive(tmp_path: Path, name: str, text: str) -> set[tuple[Any, ...]]:
    log = tmp_path / name
    log.write_text(text)
    with FlowEngine() as engine:
        engine.load_files([str(log)])
        result = engine.run("sensitive-ports", {})
    return {
        (row["direction"], row["port"], row["peer"], row.get("logged_peer"), row["flows"])
        for row in result.rows
    }


def test_sensitive_ports_judge_the_packet_address(tmp_path: Path) -> None:
    # The instance opens SSH to the internet host through the NAT gateway (three sessions).
    records = []
    for n in range(3):
        start = T0 + n * 600
        records += [
            (_record(INSTANCE, NAT, 40000 + n, 22, 5000, start), INSTANCE, HOST),
            (_record(NAT, HOST, 50000 + n, 22, 5000, start), NAT, HOST),
            (_record(HOST, NAT, 22, 50000 + n, 9000, start), HOST, NAT),
            (_record(NAT, INSTANCE, 22, 40000 + n, 9000, start), HOST, INSTANCE),
        ]
    # Both views: the peer is the host the packets went to; logged_peer what the NAT logged.
    assert _sensitive(tmp_path, "nat.log", _with_packet_fields(records)) == {
        ("outbound", 22, HOST, NAT, 3),
        ("outbound", 22, HOST, HOST, 3),
    }
    # Judged on srcaddr/dstaddr alone, the instance seemed to SSH into the NAT gateway.
    assert _sensitive(tmp_path, "logged.log", _logged_only(records)) == {
        ("inbound", 22, INSTANCE, None, 3),
        ("outbound", 22, HOST, None, 3),
    }


def test_only_pkt_dstaddr_is_enough(tmp_path: Path) -> None:
    # Logs with pkt-dstaddr but not pkt-srcaddr: the destination side is judged on it.
    lines = [line for line, _src, _dst in nat_records()]
    dsts = [dst for _line, _src, dst in nat_records()]
    text = "\n".join(
        [f"{FIELDS} pkt-dstaddr", *(f"{a} {b}" for a, b in zip(lines, dsts, strict=True))]
    )
    beacons = _beacons(_findings(tmp_path, "dst-only.log", text + "\n"))
    assert set(beacons) == {(INSTANCE, HOST), (NAT, HOST)}
    assert beacons[(INSTANCE, HOST)]["evidence"]["via"] == {HOST: [NAT]}
