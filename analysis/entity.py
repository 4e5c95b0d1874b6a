"""What the `flows` table says about one address: totals in and out, first and last seen,
its peers by port, and its traffic per hour — one small query each, over a loaded engine."""

from __future__ import annotations

from typing import Any

from analysis.addresses import int_to_ip, ip_to_int, sql_int
from analysis.engine import FlowEngine

PEER_LIMIT = 25
BUCKET_LIMIT = 500


def _number(value: Any) -> int:
    return int(value or 0)


def address_activity(engine: FlowEngine, ip: str, *, peers: int = PEER_LIMIT) -> dict[str, Any]:
    """Flows, packets and bytes with `ip` as source (out) and destination (in), its busiest
    peers per direction and port, and bytes per hour; empty totals when it is absent."""
    value = sql_int(ip_to_int(ip))
    con = engine.connection
    columns = set(engine.columns())
    packets = "COALESCE(SUM(packets), 0)" if "packets" in columns else "0"
    size = "COALESCE(SUM(bytes), 0)" if "bytes" in columns else "0"
    port = "dstport" if "dstport" in columns else "NULL"
    protocol = "protocol" if "protocol" in columns else "NULL"
    totals: dict[str, Any] = {}
    for direction, mine, other in (("out", "src_ip", "dst_ip"), ("in", "dst_ip", "src_ip")):
        row = con.execute(
            f"SELECT COUNT(*), {packets}, {size}, MIN(start_ts), MAX(end_ts) FROM flows "
            f"WHERE {mine} = {value}"
        ).fetchone() or (0, 0, 0, None, None)
        totals[direction] = {
            "flows": _number(row[0]),
            "packets": _number(row[1]),
            "bytes": _number(row[2]),
            "first_seen": row[3],
            "last_seen": row[4],
        }
        rows = con.execute(
            f"SELECT {other}, {port}, {protocol}, COUNT(*), {packets}, {size} FROM flows "
            f"WHERE {mine} = {value} AND {other} IS NOT NULL GROUP BY 1, 2, 3 "
            f"ORDER BY 6 DESC, 4 DESC LIMIT {int(peers)}"
        ).fetchall()
        totals[f"peers_{direction}"] = [
            {
                "peer": int_to_ip(int(peer)),
                "port": dport,
                "protocol": proto,
                "flows": _number(flows),
                "packets": _number(pkts),
                "bytes": _number(nbytes),
            }
            for peer, dport, proto, flows, pkts, nbytes in rows
        ]
    rows = (
        con.execute(
            f"SELECT date_trunc('hour', start_ts) AS hour, "
            f"COALESCE(SUM(CASE WHEN src_ip = {value} THEN bytes END), 0), "
            f"COALESCE(SUM(CASE WHEN dst_ip = {value} THEN bytes END), 0) FROM flows "
            f"WHERE (src_ip = {value} OR dst_ip = {value}) AND start_ts IS NOT NULL "
            f"GROUP BY 1 ORDER BY 1 LIMIT {BUCKET_LIMIT}"
        ).fetchall()
        if "bytes" in columns
        else []
    )
    totals["hours"] = [
        {"hour": hour, "bytes_out": _number(out), "bytes_in": _number(into)}
        for hour, out, into in rows
    ]
    return totals
