"""Hand-made default-v2 flow-log lines for the analyzer golden tests."""

from __future__ import annotations

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
