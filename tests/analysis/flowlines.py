"""Hand-made default-v2 flow-log lines for the analyzer golden tests."""

from __future__ import annotations

from analysis.formats import DEFAULT_FORMAT

T0 = 1_700_000_000  # 2023-11-14T22:13:20Z


def flow(
    src: str,
    dst: str,
    sport: int,
    dport: int,
    proto: int,
    packets: int,
    size: int,
    start: int,
    action: str,
    eni: str = "eni-aaa",
) -> str:
    return (
        f"2 111122223333 {eni} {src} {dst} {sport} {dport} {proto} {packets} {size} "
        f"{T0 + start} {T0 + start + 10} {action} OK"
    )


WEB, WEB6 = "10.0.1.10", "2600:1f18:aaaa:1::10"
VPCS = ["10.0.0.0/16", "10.1.0.0/16", "2600:1f18:aaaa::/48"]


# The analyzer suite's log: one line per case the analyzers must tell apart.
SUITE_LINES = [
    " ".join(DEFAULT_FORMAT.names),
    flow("203.0.113.50", WEB, 50001, 22, 6, 10, 600, 0, "REJECT"),
    flow("203.0.113.50", WEB, 50002, 22, 6, 20, 4000, 20, "ACCEPT"),
    flow(WEB, "203.0.113.50", 22, 50002, 6, 18, 5000, 20, "ACCEPT"),
    flow(WEB, "198.51.100.7", 40000, 22, 6, 30, 9000, 40, "ACCEPT"),
    flow(WEB, "10.1.5.5", 40001, 22, 6, 2, 120, 60, "REJECT"),  # the second VPC
    flow("10.0.10.5", WEB, 40002, 443, 6, 5, 500, 80, "ACCEPT"),  # internal, not 10.0.1.0/24
    flow("10.2.0.5", WEB, 40003, 443, 6, 6, 600, 100, "ACCEPT"),  # outside both VPCs
    flow("2001:db8::99", WEB6, 40004, 443, 6, 7, 700, 120, "ACCEPT", "eni-v6"),
    flow(WEB6, "2a05:d018::1", 40005, 443, 6, 800, 900000, 140, "ACCEPT", "eni-v6"),
    flow(WEB, "52.94.0.1", 40006, 443, 6, 9, 5000, 160, "ACCEPT"),
    flow(WEB, "52.94.0.1", 40007, 443, 6, 11, 7000, 180, "ACCEPT"),
    flow("45.1.1.1", WEB, 40008, 3389, 6, 1, 40, 200, "REJECT"),
    flow("45.1.1.1", WEB, 40009, 3306, 6, 1, 40, 220, "REJECT"),
    flow("45.1.1.1", "10.0.1.11", 40010, 3306, 6, 1, 40, 240, "REJECT", "eni-bbb"),  # look-alike
    flow(WEB, "10.0.0.2", 40011, 53, 17, 1, 80, 260, "ACCEPT"),
    f"2 111122223333 eni-aaa - - - - - - - {T0} {T0 + 60} - NODATA",
    f"2 111122223333 eni-aaa - - - - - - - {T0 + 60} {T0 + 120} - SKIPDATA",
]
