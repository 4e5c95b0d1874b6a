"""Benchmark: match flow records against CIDR tables (cidr-connections) and tag them.

Run as `python -m bench.reference [--records N] [--prefixes N]`. Prints records/s; the goal is
at least 1,000,000 records/s against 10,000 prefixes.
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import time

from analysis.addresses import IPV4_MAPPED_BASE
from analysis.analyzers import AnalysisParams
from analysis.engine import FlowEngine

GOAL_RECORDS_PER_SECOND = 1_000_000


def random_prefixes(count: int, rng: random.Random) -> list[list[object]]:
    """`count` distinct prefixes: 90% IPv4 (/8 to /28, nested ones included), 10% IPv6."""
    entries: dict[str, dict[str, str]] = {}
    while len(entries) < count:
        network: ipaddress.IPv4Network | ipaddress.IPv6Network
        if rng.random() < 0.9:
            length = rng.randrange(8, 29)
            network = ipaddress.IPv4Network((rng.getrandbits(32), length), strict=False)
        else:
            length = rng.randrange(24, 65)
            network = ipaddress.IPv6Network(
                ((0x2 << 124) | rng.getrandbits(124), length), strict=False
            )
        entries[str(network)] = {"provider": f"net-{len(entries) % 97}", "region": "r1"}
    return [[cidr, labels] for cidr, labels in entries.items()]


def fill_flows(engine: FlowEngine, records: int, seed: int, distinct: int) -> None:
    """`records` synthetic IPv4 flows, straight in SQL: sources drawn from `distinct` random
    addresses (real logs repeat their peers), destinations from one internal /16."""
    engine.connection.execute(f"SELECT setseed({(seed % 1000) / 1000})")
    engine.connection.execute(
        f"""
        INSERT INTO flows (srcaddr, dstaddr, srcport, dstport, protocol, packets, bytes,
                           "start", "end", action, log_status, src_ip, dst_ip,
                           src_family, dst_family, start_ts, end_ts)
        SELECT NULL, NULL, 40000, CAST(random() * 1024 AS INTEGER), 6, 3, 180,
               1700000000 + i, 1700000010 + i,
               CASE WHEN random() < 0.8 THEN 'ACCEPT' ELSE 'REJECT' END, 'OK',
               CAST({IPV4_MAPPED_BASE}
                    + (hash(CAST(random() * {int(distinct)} AS BIGINT)) % 4294967296)
                    AS UHUGEINT),
               CAST({IPV4_MAPPED_BASE} + 167772160 + CAST(random() * 65535 AS BIGINT)
                    AS UHUGEINT),
               4, 4, make_timestamp((1700000000 + i) * 1000000),
               make_timestamp((1700000010 + i) * 1000000)
        FROM range({int(records)}) AS t(i)
        """
    )


def run(records: int, prefixes: int, seed: int, distinct: int) -> float:
    rng = random.Random(seed)
    table = {"name": "bench", "entries": random_prefixes(prefixes, rng)}
    lookup = [(port, 6, f"tag-{port % 50}") for port in range(1024)]
    with FlowEngine() as engine:
        started = time.perf_counter()
        fill_flows(engine, records, seed, distinct)
        print(f"  fill {records:,} records: {time.perf_counter() - started:.2f} s")
        started = time.perf_counter()
        # The usual question: which listed networks talked to our VPC (peers are sources).
        params = AnalysisParams(
            cidr_tables=[table], lookup_table=lookup, top_n=100, target_cidrs=["10.0.0.0/16"]
        )
        print(f"  params with {prefixes:,} prefixes: {time.perf_counter() - started:.2f} s")
        rate = 0.0
        for name in ("cidr-connections", "tag-mapping"):
            started = time.perf_counter()
            result = engine.run(name, params)
            seconds = time.perf_counter() - started
            rate = records / seconds if name == "cidr-connections" else rate
            print(
                f"  {name:<18} {seconds:6.2f} s {records / seconds:14,.0f} records/s "
                f"({result.total_groups:,} groups)"
            )
    verdict = "meets" if rate >= GOAL_RECORDS_PER_SECOND else "MISSES"
    print(f"  cidr matching {verdict} the goal of {GOAL_RECORDS_PER_SECOND:,} records/s")
    return rate


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=2_000_000)
    parser.add_argument("--prefixes", type=int, default=10_000)
    parser.add_argument("--distinct", type=int, default=200_000, help="distinct source addresses")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    print(
        f"{args.records:,} records ({args.distinct:,} distinct sources) "
        f"against {args.prefixes:,} prefixes"
    )
    run(args.records, args.prefixes, args.seed, args.distinct)


if __name__ == "__main__":
    main()
