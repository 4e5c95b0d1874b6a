"""Deterministic demo flow logs: a small AWS world with normal traffic and planted incidents."""

from __future__ import annotations

import argparse
import gzip as gzip_module
import io
import json
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from analysis.formats import DEFAULT_FORMAT

ACCOUNT_ID = "123456789012"
VPC_CIDRS = ["10.0.0.0/16", "10.1.0.0/16"]
DNS_RESOLVER = "10.0.0.2"
MIN_LINES = 2000
C2_MIN_LINES = 10_000
_BATCH = 50_000


@dataclass(frozen=True)
class DemoInstance:
    name: str
    ip: str
    interface_id: str
    instance_id: str


@dataclass(frozen=True)
class PlantedIncident:
    """One thing a good investigation should find; `flows` counts the lines written for it."""

    kind: str
    source: str
    targets: list[str]
    ports: list[int]
    flows: int
    description: str


@dataclass
class DemoManifest:
    """What was generated: the world, the time range and the planted incidents."""

    path: str
    lines: int
    seed: int
    start: datetime
    end: datetime
    gzip: bool
    header: bool
    account_id: str
    vpc_cidrs: list[str]
    instances: list[DemoInstance]
    incidents: list[PlantedIncident] = field(default_factory=list)

    def instance(self, name: str) -> DemoInstance:
        return next(item for item in self.instances if item.name == name)

    def incident(self, kind: str) -> PlantedIncident:
        return next(item for item in self.incidents if item.kind == kind)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["start"] = self.start.isoformat()
        data["end"] = self.end.isoformat()
        return data


INSTANCES = [
    DemoInstance("web", "10.0.1.10", "eni-0a1b2c3d4e5f60010", "i-0a1b2c3d4e5f60010"),
    DemoInstance("bastion", "10.0.1.5", "eni-0a1b2c3d4e5f60005", "i-0a1b2c3d4e5f60005"),
    DemoInstance("app", "10.0.2.20", "eni-0a1b2c3d4e5f60020", "i-0a1b2c3d4e5f60020"),
    DemoInstance("db", "10.0.3.30", "eni-0a1b2c3d4e5f60030", "i-0a1b2c3d4e5f60030"),
    DemoInstance("worker", "10.1.4.40", "eni-0a1b2c3d4e5f60040", "i-0a1b2c3d4e5f60040"),
    DemoInstance("batch", "10.1.5.50", "eni-0a1b2c3d4e5f60050", "i-0a1b2c3d4e5f60050"),
]
_BY_NAME = {instance.name: instance for instance in INSTANCES}

SSH_ATTACKER = "203.0.113.50"
SCANNER = "198.51.100.23"
EXFIL_PEER = "185.220.101.7"
RDP_PROBER = "45.155.205.99"
DB_PROBER = "80.82.77.139"
C2_PEER = "91.219.236.18"
MINING_POOL = "141.94.1.2"
OUTSIDE_RESOLVER = "8.8.8.8"
ADMIN_IP = "198.51.100.10"  # the legitimate admin who uses the bastion
UPDATE_SERVERS = ["52.94.233.129", "54.239.28.85", "151.101.1.69", "140.82.112.4"]
DB_PORTS = [1433, 3306, 5432, 27017]
ADMIN_PORTS = [22, 3389, 445]


class _Writer:
    """Formats default-v2 lines into batches so the hot loop only appends strings."""

    def __init__(self, out: TextIO, rng: random.Random, start: int, end: int) -> None:
        self.out = out
        self.rng = rng
        self.start = start
        self.end = end
        self.batch: list[str] = []
        self.count = 0

    def flow(
        self,
        eni: str,
        src: str,
        dst: str,
        sport: int,
        dport: int,
        proto: int,
        packets: int,
        size: int,
        action: str,
        when: int | None = None,
    ) -> None:
        rng = self.rng
        first = when if when is not None else rng.randrange(self.start, self.end - 60)
        last = first + rng.randrange(1, 60)
        self.batch.append(
            f"2 {ACCOUNT_ID} {eni} {src} {dst} {sport} {dport} {proto} {packets} {size} "
            f"{first} {last} {action} OK\n"
        )
        self.count += 1
        if len(self.batch) >= _BATCH:
            self.flush()

    def raw(self, text: str) -> None:
        self.batch.append(text + "\n")
        self.count += 1

    def flush(self) -> None:
        self.out.write("".join(self.batch))
        self.batch.clear()


def _external_ip(rng: random.Random) -> str:
    """A public-looking IPv4 address outside every range the demo uses for something else."""
    while True:
        first = rng.randrange(11, 223)
        if first in (100, 127, 169, 172, 192, 198, 203, 185, 45, 80):
            continue
        return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


@contextmanager
def _burst(w: _Writer, seconds: int) -> Iterator[None]:
    """Incidents happen in bursts, as attacks do: the writer's random times fall inside one
    aligned stretch of `seconds` (so detections' time windows see the burst whole)."""
    whole = (w.start, w.end)
    slots = max((w.end - w.start - 120) // seconds, 1)
    first = (w.start // seconds + 1) * seconds + w.rng.randrange(
        slots - 1 if slots > 1 else 1
    ) * seconds
    w.start, w.end = first, min(first + seconds, whole[1])
    try:
        yield
    finally:
        w.start, w.end = whole


def _plant_incidents(w: _Writer, lines: int) -> list[PlantedIncident]:
    with _burst(w, 600):
        incidents = _brute_force(w, lines)
    with _burst(w, 600):
        incidents += _port_scan(w)
    incidents += _exfiltration(w, lines)
    with _burst(w, 600):
        incidents += _probes(w)
    with _burst(w, 3600):
        incidents += _lateral(w)
    if lines >= C2_MIN_LINES:  # about 800 lines of their own: only in demos with room
        incidents += _command_and_control(w)
    _not_incidents(w)
    return incidents


def _brute_force(w: _Writer, lines: int) -> list[PlantedIncident]:
    rng = w.rng
    web, bastion = _BY_NAME["web"], _BY_NAME["bastion"]
    incidents: list[PlantedIncident] = []

    # (a) SSH brute force: hundreds of short flows, accepted by the bastion, rejected by web.
    attempts = max(300, min(lines // 50, 3000))
    for index in range(attempts):
        target = bastion if index % 3 else web
        action = "ACCEPT" if target is bastion else "REJECT"
        w.flow(
            target.interface_id,
            SSH_ATTACKER,
            target.ip,
            rng.randrange(32768, 61000),
            22,
            6,
            rng.randrange(8, 24),
            rng.randrange(1500, 4200),
            action,
        )
    incidents.append(
        PlantedIncident(
            "ssh-bruteforce",
            SSH_ATTACKER,
            [bastion.ip, web.ip],
            [22],
            attempts,
            "SSH password guessing against the bastion (accepted by its security group) and web",
        )
    )
    return incidents


def _port_scan(w: _Writer) -> list[PlantedIncident]:
    rng = w.rng
    web = _BY_NAME["web"]
    incidents: list[PlantedIncident] = []

    # (b) Port scan: one SYN to each of 600+ distinct ports of web, nearly all rejected.
    ports = sorted(set(rng.sample(range(1, 10000), 650)) | {22, 80, 443})
    for port in ports:
        action = "ACCEPT" if port in (80, 443) else "REJECT"
        w.flow(
            web.interface_id, SCANNER, web.ip, rng.randrange(40000, 60000), port, 6, 1, 44, action
        )
    incidents.append(
        PlantedIncident(
            "port-scan",
            SCANNER,
            [web.ip],
            ports,
            len(ports),
            f"TCP SYN scan of {len(ports)} distinct ports of the web server",
        )
    )
    return incidents


def _exfiltration(w: _Writer, lines: int) -> list[PlantedIncident]:
    rng = w.rng
    db = _BY_NAME["db"]
    incidents: list[PlantedIncident] = []

    # (c) Exfiltration: several GB from db to one external peer on 443, far above any peer.
    transfers = max(40, lines // 25_000)
    total = 0
    for _ in range(transfers):
        size = rng.randrange(90_000_000, 130_000_000)
        total += size
        w.flow(
            db.interface_id,
            db.ip,
            EXFIL_PEER,
            rng.randrange(32768, 61000),
            443,
            6,
            size // 1400,
            size,
            "ACCEPT",
        )
    incidents.append(
        PlantedIncident(
            "exfiltration",
            db.ip,
            [EXFIL_PEER],
            [443],
            transfers,
            f"{total} bytes sent from the database server to one external address",
        )
    )
    return incidents


def _probes(w: _Writer) -> list[PlantedIncident]:
    rng = w.rng
    web, bastion, app, db = (_BY_NAME[name] for name in ("web", "bastion", "app", "db"))
    incidents: list[PlantedIncident] = []

    # (d) RDP and database probes; the database's MongoDB port is left open.
    probes = 0
    for target in (web, bastion, app):
        for _ in range(8):
            w.flow(
                target.interface_id,
                RDP_PROBER,
                target.ip,
                rng.randrange(40000, 60000),
                3389,
                6,
                2,
                88,
                "REJECT",
            )
            probes += 1
    for port in DB_PORTS:
        for _ in range(6):
            action = "ACCEPT" if port == 27017 else "REJECT"
            w.flow(
                db.interface_id,
                DB_PROBER,
                db.ip,
                rng.randrange(40000, 60000),
                port,
                6,
                3 if action == "ACCEPT" else 1,
                180 if action == "ACCEPT" else 44,
                action,
            )
            probes += 1
    incidents.append(
        PlantedIncident(
            "rdp-db-probe",
            RDP_PROBER,
            [web.ip, bastion.ip, app.ip],
            [3389],
            24,
            "RDP probes against three instances, all rejected",
        )
    )
    incidents.append(
        PlantedIncident(
            "db-probe",
            DB_PROBER,
            [db.ip],
            DB_PORTS,
            24,
            "Database port probes; MongoDB (27017) on the database server accepted them",
        )
    )
    return incidents


def _lateral(w: _Writer) -> list[PlantedIncident]:
    rng = w.rng
    app = _BY_NAME["app"]
    incidents: list[PlantedIncident] = []

    # (e) Lateral movement: app reaches out to many internal hosts on admin ports.
    targets = sorted(
        {
            f"10.{rng.choice((0, 1))}.{rng.randrange(1, 20)}.{rng.randrange(2, 250)}"
            for _ in range(150)
        }
        - {instance.ip for instance in INSTANCES}
    )
    moves = 0
    for target_ip in targets:
        for port in ADMIN_PORTS:
            action = "ACCEPT" if rng.random() < 0.1 else "REJECT"
            w.flow(
                app.interface_id,
                app.ip,
                target_ip,
                rng.randrange(40000, 60000),
                port,
                6,
                2,
                104,
                action,
            )
            moves += 1
    incidents.append(
        PlantedIncident(
            "lateral-movement",
            app.ip,
            targets,
            ADMIN_PORTS,
            moves,
            f"The app server tried SSH, RDP and SMB on {len(targets)} internal addresses",
        )
    )
    return incidents


def _command_and_control(w: _Writer) -> list[PlantedIncident]:
    """Beaconing to a C2 address, a crypto-miner on a stratum port, DNS to an outside
    resolver: one each, spread over the whole window."""
    rng = w.rng
    worker, batch = _BY_NAME["worker"], _BY_NAME["batch"]
    beats = 0
    for when in range(w.start + 30, w.end - 60, 120):
        w.flow(worker.interface_id, worker.ip, C2_PEER, rng.randrange(32768, 61000), 443, 6, 6,
               rng.randrange(420, 440), "ACCEPT", when=when + rng.randrange(-2, 3))  # fmt: skip
        beats += 1
    mined, port = 0, rng.randrange(32768, 61000)
    for when in range(w.start + 300, min(w.start + 300 + 7200, w.end - 600), 600):
        w.flow(batch.interface_id, batch.ip, MINING_POOL, port, 3333, 6, 900, 120_000,
               "ACCEPT", when=when)  # fmt: skip
        mined += 1
    queries = 600
    for _ in range(queries):
        w.flow(batch.interface_id, batch.ip, OUTSIDE_RESOLVER, rng.randrange(32768, 61000), 53,
               17, 1, rng.randrange(80, 200), "ACCEPT")  # fmt: skip
    return [
        PlantedIncident("beaconing", worker.ip, [C2_PEER], [443], beats,
                        "The worker checks in with a command-and-control address every 2 minutes"),
        PlantedIncident("crypto-mining", batch.ip, [MINING_POOL], [3333], mined,
                        "The batch host keeps a connection to a mining pool's stratum port"),
        PlantedIncident("outside-dns", batch.ip, [OUTSIDE_RESOLVER], [53], queries,
                        "The batch host sends hundreds of DNS queries to a public resolver"),
    ]  # fmt: skip


def _not_incidents(w: _Writer) -> None:
    rng = w.rng
    web, bastion = _BY_NAME["web"], _BY_NAME["bastion"]
    # Not an incident: the admin's own SSH sessions to the bastion, a handful of long flows.
    for _ in range(25):
        w.flow(
            bastion.interface_id,
            ADMIN_IP,
            bastion.ip,
            rng.randrange(32768, 61000),
            22,
            6,
            rng.randrange(200, 900),
            rng.randrange(40000, 400000),
            "ACCEPT",
        )

    # Coverage: an idle interface (NODATA) and dropped records on web (SKIPDATA).
    for _ in range(5):
        first = rng.randrange(w.start, w.end - 600)
        w.raw(
            f"2 {ACCOUNT_ID} {_BY_NAME['batch'].interface_id} - - - - - - - "
            f"{first} {first + 600} - NODATA"
        )
    for _ in range(3):
        first = rng.randrange(w.start, w.end - 600)
        w.raw(f"2 {ACCOUNT_ID} {web.interface_id} - - - - - - - {first} {first + 600} - SKIPDATA")


class _NormalTraffic:
    """Ordinary traffic of the demo world, written as request/response pairs where it applies."""

    def __init__(self, w: _Writer) -> None:
        rng = w.rng
        self.w = w
        self.rng = rng
        self.clients = [_external_ip(rng) for _ in range(3000)]
        self.noise = [_external_ip(rng) for _ in range(400)]
        self.noise_ports = [23, 25, 80, 123, 161, 445, 1723, 5900, 8080, 8443]
        self.internal = list(INSTANCES)
        emitters: list[tuple[int, Callable[[], int]]] = [
            (44, self.https),
            (16, self.database),
            (9, self.updates),
            (14, self.dns),
            (3, self.icmp),
            (8, self.internet_noise),
            (5, self.peering),
        ]
        self.table: list[Callable[[], int]] = []
        for weight, emitter in emitters:
            self.table.extend([emitter] * weight)

    def fill(self, count: int) -> None:
        """Write exactly `count` lines."""
        choice = self.rng.choice
        table = self.table
        written = 0
        while written < count:
            written += self.dns() if count - written == 1 else choice(table)()

    def _when(self) -> int:
        return self.rng.randrange(self.w.start, self.w.end - 60)

    def https(self) -> int:
        rng, web = self.rng, _BY_NAME["web"]
        client = rng.choice(self.clients)
        port = rng.randrange(1024, 65535)
        size = rng.randrange(600, 40000)
        when = self._when()
        self.w.flow(
            web.interface_id,
            client,
            web.ip,
            port,
            443,
            6,
            rng.randrange(4, 30),
            size,
            "ACCEPT",
            when,
        )
        self.w.flow(
            web.interface_id,
            web.ip,
            client,
            443,
            port,
            6,
            rng.randrange(4, 60),
            size * 8,
            "ACCEPT",
            when,
        )
        return 2

    def database(self) -> int:
        rng, app, db = self.rng, _BY_NAME["app"], _BY_NAME["db"]
        port = rng.randrange(32768, 61000)
        when = self._when()
        for eni in (app.interface_id, db.interface_id):
            self.w.flow(
                eni,
                app.ip,
                db.ip,
                port,
                5432,
                6,
                rng.randrange(4, 40),
                rng.randrange(400, 9000),
                "ACCEPT",
                when,
            )
        return 2

    def updates(self) -> int:
        rng = self.rng
        host = rng.choice(self.internal)
        server = rng.choice(UPDATE_SERVERS)
        port = rng.randrange(32768, 61000)
        when = self._when()
        self.w.flow(
            host.interface_id,
            host.ip,
            server,
            port,
            443,
            6,
            rng.randrange(4, 20),
            rng.randrange(500, 3000),
            "ACCEPT",
            when,
        )
        self.w.flow(
            host.interface_id,
            server,
            host.ip,
            443,
            port,
            6,
            rng.randrange(10, 60),
            rng.randrange(2000, 60000),
            "ACCEPT",
            when,
        )
        return 2

    def dns(self) -> int:
        rng = self.rng
        host = rng.choice(self.internal)
        self.w.flow(
            host.interface_id,
            host.ip,
            DNS_RESOLVER,
            rng.randrange(32768, 61000),
            53,
            17,
            1,
            rng.randrange(60, 120),
            "ACCEPT",
        )
        return 1

    def icmp(self) -> int:
        rng = self.rng
        host = rng.choice(self.internal)
        peer = rng.choice(self.internal)
        self.w.flow(
            host.interface_id,
            host.ip,
            peer.ip,
            0,
            0,
            1,
            rng.randrange(1, 5),
            rng.randrange(84, 420),
            "ACCEPT",
        )
        return 1

    def internet_noise(self) -> int:
        rng = self.rng
        host = _BY_NAME["web"] if rng.random() < 0.5 else _BY_NAME["bastion"]
        self.w.flow(
            host.interface_id,
            rng.choice(self.noise),
            host.ip,
            rng.randrange(1024, 65535),
            rng.choice(self.noise_ports),
            6,
            1,
            40,
            "REJECT",
        )
        return 1

    def peering(self) -> int:
        rng, worker, app = self.rng, _BY_NAME["worker"], _BY_NAME["app"]
        self.w.flow(
            worker.interface_id,
            worker.ip,
            app.ip,
            rng.randrange(32768, 61000),
            8080,
            6,
            rng.randrange(4, 50),
            rng.randrange(500, 20000),
            "ACCEPT",
        )
        return 1


def generate(
    path: str | Path,
    *,
    lines: int = 20000,
    seed: int = 7,
    end: datetime | None = None,
    hours: int = 6,
    gzip: bool = False,
    header: bool = True,
) -> DemoManifest:
    """Write `lines` flow records (plus a header line when `header`) and describe them.

    The same seed, end and options always give byte-identical output. Without `end` the
    logs end at the start of the current hour (UTC).
    """
    if lines < MIN_LINES:
        raise ValueError(f"the demo needs at least {MIN_LINES} lines, got {lines}")
    if hours < 1:
        raise ValueError(f"hours must be at least 1, got {hours}")
    if end is None:
        end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    end = end.replace(tzinfo=UTC) if end.tzinfo is None else end.astimezone(UTC)
    start = end - timedelta(hours=hours)
    rng = random.Random(seed)
    path = Path(path)

    with open(path, "wb") as binary:
        compressed = (
            gzip_module.GzipFile(filename="", mode="wb", fileobj=binary, mtime=0, compresslevel=5)
            if gzip
            else None
        )
        target = compressed if compressed is not None else binary
        with io.TextIOWrapper(target, encoding="ascii", newline="\n") as out:
            if header:
                out.write(" ".join(DEFAULT_FORMAT.names) + "\n")
            # Incidents go into their own buffer, then are spread through the normal traffic.
            planted = io.StringIO()
            planted_writer = _Writer(planted, rng, int(start.timestamp()), int(end.timestamp()))
            incidents = _plant_incidents(planted_writer, lines)
            planted_writer.flush()
            planted_lines = planted.getvalue().splitlines(keepends=True)
            rng.shuffle(planted_lines)
            normal_count = lines - len(planted_lines)
            if normal_count < 0:
                raise ValueError(f"too few lines for the planted incidents: {lines}")
            writer = _Writer(out, rng, int(start.timestamp()), int(end.timestamp()))
            normal = _NormalTraffic(writer)
            chunk = max(1, normal_count // max(len(planted_lines), 1))
            position = 0
            for line in planted_lines:
                take = min(chunk, normal_count - position)
                if take > 0:
                    normal.fill(take)
                    position += take
                writer.batch.append(line)
            normal.fill(normal_count - position)
            writer.flush()
        if compressed is not None:
            compressed.close()

    return DemoManifest(
        path=str(path),
        lines=lines,
        seed=seed,
        start=start,
        end=end,
        gzip=gzip,
        header=header,
        account_id=ACCOUNT_ID,
        vpc_cidrs=list(VPC_CIDRS),
        instances=list(INSTANCES),
        incidents=incidents,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=20000)
    parser.add_argument("--out", required=True, help="file to write")
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--hours", type=int, default=6)
    parser.add_argument("--end", help="ISO 8601 time of the last records (default: this hour)")
    args = parser.parse_args(argv)
    end = datetime.fromisoformat(args.end) if args.end else None
    manifest = generate(
        args.out, lines=args.lines, seed=args.seed, end=end, hours=args.hours, gzip=args.gzip
    )
    print(json.dumps(manifest.to_dict(), indent=2))


if __name__ == "__main__":
    main()
