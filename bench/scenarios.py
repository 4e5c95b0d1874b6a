"""A labelled day of VPC flow logs: every attack kind detections should find, beside benign
look-alikes they must stay quiet on, so recall and precision can be measured.

`generate_day(path)` writes one day (~300k records, version-5 custom format with tcp-flags,
flow-direction, pkt-srcaddr/pkt-dstaddr and pkt-*-aws-service) and returns a `Scenario`: the
world, the planted attacks and benign activities, and a side table giving each record's
label (the flow records themselves carry none). `generate_noisy(path, lines)` writes internet
noise with thousands of scanning sources, for the speed run. Deterministic for a seed.
"""

from __future__ import annotations

import gzip
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

ACCOUNT = "123456789012"
VPC_CIDRS = ["10.20.0.0/16"]
DAY_START = 1_714_521_600  # 2024-05-01T00:00:00Z
DAY = 86_400
WINDOW = 600  # the flow logs' aggregation interval
FIELDS = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes "
    "start end action log-status tcp-flags flow-direction pkt-srcaddr pkt-dstaddr "
    "pkt-src-aws-service pkt-dst-aws-service"
)
TCP, UDP = 6, 17
FIN, SYN, RST, SYN_ACK = 1, 2, 4, 18

# The world: internal hosts by role.
LB = ["10.20.0.5", "10.20.0.6"]
NTP = "10.20.0.123"
BASTION = "10.20.1.5"
WEB = ["10.20.1.10", "10.20.1.11"]
APP = [f"10.20.2.{n}" for n in range(10, 30)]
API = "10.20.2.50"
DB, CACHE = "10.20.3.30", "10.20.3.31"
EXPOSED_MYSQL, EXPOSED_PG = "10.20.3.40", "10.20.3.41"
MONITOR, VULN_SCANNER, CI = "10.20.4.10", "10.20.4.20", "10.20.4.40"
LEGACY, SFTP, WINDOWS = "10.20.5.60", "10.20.5.61", "10.20.5.70"
WORKERS = [f"10.20.6.{n}" for n in range(1, 41)]
PUBLIC_FACING = [*LB, BASTION, LEGACY, SFTP, WINDOWS, EXPOSED_MYSQL, EXPOSED_PG]
INTERNAL = [
    *LB,
    NTP,
    BASTION,
    *WEB,
    *APP,
    API,
    DB,
    CACHE,
    EXPOSED_MYSQL,
    EXPOSED_PG,
    MONITOR,
    VULN_SCANNER,
    CI,
    LEGACY,
    SFTP,
    WINDOWS,
    *WORKERS,
]
# Compromised app hosts, one per attack that starts inside.
EXFIL_HOST, BEACON_HOST, LONG_HOST, SWEEP_HOST, FANOUT_HOST = APP[2:7]
INTEL_HOST, MINER_HOST, DNS_HOST, SPIKE_HOST = APP[7], APP[8], APP[9], APP[11]

# Outside addresses.
ADMIN = "198.51.100.10"
GITHUB = "140.82.112.4"
S3_ADDRESSES = [f"52.218.{n}.{m}" for n in (20, 21) for m in (12, 77, 140)]
AWS_API = ["54.239.28.85", "52.94.233.129", "52.46.128.17"]
UPDATES = ["151.101.1.69", "91.189.91.39", "185.125.190.36"]
SSH_ATTACKER = "203.0.113.50"
RDP_ATTACKER = "45.155.205.99"
SCANNER = "198.51.100.23"
MYSQL_PROBER = "80.82.77.139"
PG_INTRUDER = "23.94.5.5"
EXFIL_PEER = "185.220.101.7"
PARTNER = "93.184.216.34"  # receives the API host's nightly report export, every night
C2 = "91.219.236.18"
LONG_PEER = "45.77.1.1"
INTEL_ADDRESS = "194.165.16.11"
INTEL_PROBER = "194.165.16.77"
POOL = "141.94.1.2"
OUTSIDE_RESOLVER = "8.8.8.8"
CAMPAIGN = [f"103.{n}.{(n * 7) % 250 + 1}.{(n * 13) % 250 + 2}" for n in range(60, 120)]


@dataclass(frozen=True)
class Activity:
    """One labelled thing in the day: an attack detections must find (with a fitting type) or
    a benign activity they must stay quiet on. `actors` are the addresses a finding about it
    names (its peer or one of its listed actors)."""

    label: str
    kind: str
    attack: bool
    actors: tuple[str, ...]
    types: tuple[str, ...] = ()  # finding types that name this attack correctly
    note: str = ""


@dataclass
class Scenario:
    path: str
    records: int
    vpc_cidrs: list[str]
    activities: list[Activity]
    labels: list[str] = field(default_factory=list)  # the label of each record, in file order
    indicators: list[tuple[str, str]] = field(default_factory=list)  # (address, label)

    def activity(self, label: str) -> Activity:
        return next(item for item in self.activities if item.label == label)


ATTACKS = [
    Activity(
        "ssh-brute-force",
        "SSH brute force",
        True,
        (SSH_ATTACKER,),
        ("UnauthorizedAccess:EC2/SSHBruteForce",),
    ),
    Activity(
        "rdp-brute-force",
        "RDP brute force",
        True,
        (RDP_ATTACKER,),
        ("UnauthorizedAccess:EC2/RDPBruteForce",),
    ),
    Activity(
        "ssh-campaign",
        "distributed SSH brute force",
        True,
        tuple(CAMPAIGN),
        ("UnauthorizedAccess:EC2/SSHBruteForce",),
    ),
    Activity("port-scan", "port scan", True, (SCANNER,), ("Recon:EC2/Portscan",)),
    Activity(
        "port-probe",
        "probe of an unprotected port",
        True,
        (MYSQL_PROBER,),
        ("Recon:EC2/PortProbeUnprotectedPort",),
    ),
    Activity(
        "internal-sweep",
        "internal sweep",
        True,
        (SWEEP_HOST,),
        ("Recon:EC2/InternalSweep", "LateralMovement:EC2/InternalFanOut"),
    ),
    Activity(
        "internal-fan-out",
        "internal fan-out on admin ports",
        True,
        (FANOUT_HOST,),
        ("LateralMovement:EC2/InternalFanOut",),
    ),
    Activity(
        "lateral-movement",
        "lateral movement to new hosts",
        True,
        (LEGACY,),
        ("LateralMovement:EC2/NewInternalAdminConnection",),
    ),
    Activity(
        "exfiltration",
        "exfiltration to a new destination",
        True,
        (EXFIL_PEER, EXFIL_HOST),
        ("Exfiltration:EC2/UnusualOutboundVolume",),
    ),
    Activity(
        "beaconing", "beaconing (C2)", True, (C2, BEACON_HOST), ("Backdoor:EC2/C&CActivity.Beacon",)
    ),
    Activity(
        "long-connection",
        "long connection",
        True,
        (LONG_PEER, LONG_HOST),
        ("Behavior:EC2/LongConnection",),
    ),
    Activity(
        "threat-intel",
        "threat-intel match",
        True,
        (INTEL_ADDRESS, INTEL_HOST),
        ("UnauthorizedAccess:EC2/MaliciousIPCaller.Custom",),
    ),
    Activity(
        "crypto-mining",
        "crypto-mining",
        True,
        (POOL, MINER_HOST),
        ("CryptoCurrency:EC2/BitcoinTool.B",),
    ),
    Activity(
        "outside-dns",
        "DNS to outside resolvers",
        True,
        (OUTSIDE_RESOLVER, DNS_HOST),
        ("Trojan:EC2/DNSDataExfiltration.Resolver",),
    ),
    Activity(
        "rejected-spike",
        "spike in rejected traffic",
        True,
        (SPIKE_HOST,),
        ("Behavior:EC2/RejectedTrafficSpike",),
    ),
    Activity(
        "internet-db-access",
        "accepted internet traffic to a database port",
        True,
        (PG_INTRUDER,),
        ("Policy:EC2/InternetAccessToDatabasePort", "Recon:EC2/PortProbeUnprotectedPort"),
    ),
]
BENIGN = [
    Activity("web", "web traffic through the load balancers", False, ()),
    Activity(
        "app-db", "database, cache and API replies to ephemeral ports", False, (DB, CACHE, API)
    ),
    Activity("health-checks", "load-balancer health checks", False, tuple(LB)),
    Activity("monitoring", "monitoring polling many hosts", False, (MONITOR,)),
    Activity("ntp", "periodic NTP to an internal server", False, (NTP,)),
    Activity("bastion", "bastion admin sessions over a day", False, (ADMIN, BASTION)),
    Activity("ci", "CI pulling over SSH on a schedule, deploying over SSH", False, (CI, GITHUB)),
    Activity("backup", "nightly backup to S3", False, (DB, *S3_ADDRESSES)),
    Activity(
        "partner",
        "nightly 1.2 GB export to a partner, every night of the week before and the day",
        False,
        (PARTNER,),
    ),
    Activity("aws-apis", "AWS API and update traffic", False, (*AWS_API, *UPDATES)),
    Activity("noise", "internet background noise", False, ()),
    Activity("vuln-scanner", "authorised vulnerability scanner", False, (VULN_SCANNER,)),
    Activity("dev-dns", "a few DNS lookups to a public resolver", False, ()),
]


def eni(address: str) -> str:
    third, fourth = address.split(".")[2:]
    return f"eni-0{int(third):03x}{int(fourth):03x}0a1b2c3d"


INTERNAL_SET = set(INTERNAL)


def internal(address: str) -> bool:
    return address.startswith("10.20.")


class Writer:
    """Writes records (and their labels) for connections as flow logs see them: per ENI, per
    direction, per aggregation window."""

    def __init__(self, out: TextIO, rng: random.Random) -> None:
        self.out = out
        self.rng = rng
        self.labels: list[str] = []
        self.batch: list[str] = []

    def record(
        self,
        label: str,
        at: str,
        src: str,
        dst: str,
        sport: int,
        dport: int,
        proto: int,
        packets: int,
        size: int,
        start: int,
        end: int,
        action: str,
        flags: int,
        src_service: str = "-",
        dst_service: str = "-",
    ) -> None:
        direction = "ingress" if at == dst else "egress"
        self.batch.append(
            f"5 {ACCOUNT} {eni(at)} {src} {dst} {sport} {dport} {proto} {packets} {size} "
            f"{start} {end} {action} OK {flags if proto == TCP else 0} {direction} {src} {dst} "
            f"{src_service} {dst_service}\n"
        )
        self.labels.append(label)
        if len(self.batch) >= 50_000:
            self.flush()

    def flush(self) -> None:
        self.out.write("".join(self.batch))
        self.batch.clear()

    def connection(
        self,
        label: str,
        client: str,
        server: str,
        dport: int,
        start: int,
        *,
        duration: int = 2,
        packets: int = 10,
        size: int = 2000,
        reply_size: int | None = None,
        proto: int = TCP,
        sport: int | None = None,
        service: str = "-",
        client_service: str = "-",
    ) -> None:
        """An accepted connection, split at aggregation windows, seen at both ends' ENIs."""
        sport = sport or self.rng.randrange(32768, 61000)
        reply_size = size // 4 if reply_size is None else reply_size
        end = start + max(duration, 1)
        windows = []
        edge = start
        while edge < end:
            stop = min(end, (edge // WINDOW + 1) * WINDOW)
            windows.append((edge, stop))
            edge = stop
        share = len(windows)
        for index, (first, last) in enumerate(windows):
            opening, closing = index == 0, index == share - 1
            out_flags = (SYN if opening else 0) | (FIN if closing else 0)
            in_flags = (SYN_ACK if opening else 0) | (FIN if closing else 0)
            pk = max(1, packets // share)
            ends = [at for at in (client, server) if internal(at)]
            for at in ends:
                self.record(
                    label,
                    at,
                    client,
                    server,
                    sport,
                    dport,
                    proto,
                    pk,
                    max(40, size // share),
                    first,
                    last,
                    "ACCEPT",
                    out_flags,
                    client_service,
                    service,
                )
                self.record(
                    label,
                    at,
                    server,
                    client,
                    dport,
                    sport,
                    proto,
                    pk,
                    max(40, reply_size // share),
                    first,
                    last,
                    "ACCEPT",
                    in_flags,
                    service,
                    client_service,
                )

    def attempt(
        self,
        label: str,
        src: str,
        dst: str,
        dport: int,
        when: int,
        *,
        action: str = "REJECT",
        proto: int = TCP,
        packets: int = 1,
        sport: int | None = None,
        answered: bool = False,
    ) -> None:
        """A connection attempt: a refused SYN, or (accepted) a short exchange of a few packets."""
        sport = sport or self.rng.randrange(32768, 61000)
        at = dst if internal(dst) else src
        last = when + self.rng.randrange(0, 3)
        self.record(
            label,
            at,
            src,
            dst,
            sport,
            dport,
            proto,
            packets,
            44 * packets + 16,
            when,
            last,
            action,
            SYN | (FIN if answered else 0),
        )
        if answered and action == "ACCEPT":
            self.record(
                label,
                at,
                dst,
                src,
                dport,
                sport,
                proto,
                packets,
                60 * packets + 40,
                when,
                last,
                "ACCEPT",
                SYN_ACK | FIN,
            )


def _open(path: Path) -> TextIO:
    if path.suffix == ".gz":
        return gzip.open(path, "wt", encoding="ascii", compresslevel=1)
    return path.open("w", encoding="ascii")


def _public_ip(rng: random.Random) -> str:
    return (
        f"{rng.randrange(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    )


def _when(rng: random.Random, start: int = 0, end: int = DAY) -> int:
    return DAY_START + rng.randrange(start, end - 30)


def _benign(w: Writer, rng: random.Random) -> None:
    clients = [
        f"{rng.randrange(11, 220)}.{rng.randrange(256)}.{rng.randrange(256)}."
        f"{rng.randrange(1, 255)}"
        for _ in range(1500)
    ]
    for _ in range(26_000):  # web: clients -> load balancers -> web servers
        start = _when(rng)
        lb, web = rng.choice(LB), rng.choice(WEB)
        w.connection(
            "web",
            rng.choice(clients),
            lb,
            443,
            start,
            duration=rng.randrange(1, 40),
            packets=rng.randrange(8, 60),
            size=rng.randrange(800, 9000),
            reply_size=rng.randrange(2000, 90_000),
        )
        w.connection(
            "web",
            lb,
            web,
            80,
            start,
            duration=rng.randrange(1, 30),
            packets=rng.randrange(6, 40),
            size=rng.randrange(600, 8000),
            reply_size=rng.randrange(2000, 80_000),
        )
    for _ in range(7_000):  # app tier: database, cache, internal API; replies to ephemeral
        start = _when(rng)
        app = rng.choice(APP)
        server, port = rng.choice([(DB, 5432), (DB, 5432), (CACHE, 6379), (API, 8080)])
        w.connection(
            "app-db",
            app,
            server,
            port,
            start,
            duration=rng.randrange(1, 20),
            packets=rng.randrange(4, 80),
            size=rng.randrange(300, 20_000),
            reply_size=rng.randrange(300, 200_000),
        )
    for tick in range(0, DAY, 60):  # health checks every minute
        for lb in LB:
            for web in WEB:
                w.connection(
                    "health-checks",
                    lb,
                    web,
                    80,
                    DAY_START + tick + rng.randrange(5),
                    duration=1,
                    packets=6,
                    size=420,
                    reply_size=900,
                )
    polled = APP[:10] + WORKERS[:30]
    for tick in range(0, DAY, 600):  # monitoring polls 40 hosts every 10 minutes
        for host in polled:
            w.connection(
                "monitoring",
                MONITOR,
                host,
                9100,
                DAY_START + tick + rng.randrange(20),
                duration=1,
                packets=8,
                size=500,
                reply_size=30_000,
            )
    for host in APP + WORKERS:  # NTP to the internal time server
        offset = rng.randrange(2048)
        for tick in range(offset, DAY, 2048):
            w.connection(
                "ntp",
                host,
                NTP,
                123,
                DAY_START + tick,
                proto=UDP,
                packets=1,
                size=76,
                reply_size=76,
                sport=123,
            )
    for _ in range(3_000):  # AWS APIs and updates
        aws = rng.random() < 0.7
        w.connection(
            "aws-apis",
            rng.choice(APP + WORKERS),
            rng.choice(AWS_API if aws else UPDATES),
            443,
            _when(rng),
            duration=rng.randrange(1, 20),
            packets=rng.randrange(6, 200),
            size=rng.randrange(500, 50_000),
            reply_size=rng.randrange(500, 2_000_000),
            service="AMAZON" if aws else "-",
        )
    for index in range(40):  # nightly backup to S3, 02:00-02:40
        w.connection(
            "backup",
            DB,
            rng.choice(S3_ADDRESSES),
            443,
            DAY_START + 2 * 3600 + index * 60,
            duration=rng.randrange(300, 900),
            packets=400_000,
            size=500_000_000,
            reply_size=2_000_000,
            service="S3",
        )
    # Bastion: 71 admin logins over the day, then SSH to a few internal hosts each.
    for index in range(71):
        start = DAY_START + 6 * 3600 + index * 800 + rng.randrange(200)
        long = rng.random() < 0.5
        w.connection(
            "bastion",
            ADMIN,
            BASTION,
            22,
            start,
            duration=rng.randrange(600, 5400) if long else rng.randrange(20, 300),
            packets=rng.randrange(300, 20_000),
            size=rng.randrange(20_000, 900_000),
            reply_size=rng.randrange(50_000, 5_000_000),
        )
        for host in rng.sample(APP + WORKERS, rng.randrange(1, 4)):
            w.connection(
                "bastion",
                BASTION,
                host,
                22,
                start + 30,
                duration=rng.randrange(30, 1200),
                packets=rng.randrange(100, 4000),
                size=rng.randrange(10_000, 300_000),
            )
    for _ in range(3):  # mistyped passwords
        w.attempt(
            "bastion",
            ADMIN,
            BASTION,
            22,
            _when(rng, 6 * 3600, 20 * 3600),
            action="ACCEPT",
            packets=12,
            answered=True,
        )
    # CI: git fetch over SSH every 5 minutes (sizes vary with what changed), two deploys.
    for tick in range(0, DAY, 300):
        w.connection(
            "ci",
            CI,
            GITHUB,
            22,
            DAY_START + tick + rng.randrange(3),
            duration=rng.randrange(2, 25),
            packets=rng.randrange(20, 900),
            size=rng.randrange(3000, 40_000),
            reply_size=rng.randrange(5000, 3_000_000),
        )
    for deploy in (11 * 3600, 16 * 3600):
        for host in APP[:8]:
            w.connection(
                "ci",
                CI,
                host,
                22,
                DAY_START + deploy + rng.randrange(90),
                duration=rng.randrange(20, 80),
                packets=rng.randrange(60, 400),
                size=rng.randrange(50_000, 400_000),
            )
    # Authorised vulnerability scanner at 03:00: 40 hosts, 100 ports each.
    ports = sorted(rng.sample(range(1, 10_000), 100))
    for host in APP[12:] + WORKERS[:32]:
        for port in ports:
            w.attempt(
                "vuln-scanner", VULN_SCANNER, host, port, _when(rng, 3 * 3600, 3 * 3600 + 1500)
            )
    # Internet background noise: thousands of sources, one or two refused packets each.
    noisy_ports = [22, 23, 3389, 445, 1433, 3306, 5900, 8080, 8443, 80, 443, 6379, 2375]
    for _ in range(4500):
        source = _public_ip(rng)
        for _ in range(rng.choice((1, 1, 1, 2))):
            port = rng.choice(noisy_ports) if rng.random() < 0.7 else rng.randrange(1, 65536)
            w.attempt("noise", source, rng.choice(PUBLIC_FACING), port, _when(rng))
    for host in rng.sample(APP, 2):  # a developer's few lookups on a public resolver
        for _ in range(5):
            w.connection(
                "dev-dns",
                host,
                "1.1.1.1",
                53,
                _when(rng),
                proto=UDP,
                packets=1,
                size=70,
                reply_size=150,
            )


def _attacks(w: Writer, rng: random.Random) -> None:
    # SSH brute force on the legacy host at 01:10, then a session, then lateral movement.
    base = DAY_START + 3600 + 600
    for index in range(400):
        w.attempt(
            "ssh-brute-force",
            SSH_ATTACKER,
            LEGACY,
            22,
            base + index * 4,
            action="ACCEPT",
            packets=rng.randrange(10, 22),
            answered=True,
        )
    w.connection(
        "ssh-brute-force",
        SSH_ATTACKER,
        LEGACY,
        22,
        base + 1700,
        duration=2400,
        packets=3000,
        size=200_000,
        reply_size=900_000,
    )
    for index, host in enumerate(rng.sample(WORKERS[30:], 5)):
        w.connection(
            "lateral-movement",
            LEGACY,
            host,
            rng.choice((22, 445)),
            base + 2000 + index * 90,
            duration=300,
            packets=400,
            size=60_000,
        )
    # RDP brute force on the Windows host at 04:00.
    base = DAY_START + 4 * 3600
    for index in range(300):
        w.attempt(
            "rdp-brute-force",
            RDP_ATTACKER,
            WINDOWS,
            3389,
            base + index * 3,
            action="ACCEPT",
            packets=rng.randrange(8, 30),
            answered=True,
        )
    # A distributed campaign on the SFTP host at 07:00: 60 sources, 6 tries each.
    base = DAY_START + 7 * 3600
    for source in CAMPAIGN:
        for _ in range(6):
            w.attempt(
                "ssh-campaign",
                source,
                SFTP,
                22,
                base + rng.randrange(1800),
                action="ACCEPT",
                packets=rng.randrange(10, 20),
                answered=True,
            )
    # A port scan of a web server at 09:00: 1000 ports in 4 minutes; 9200 was open.
    base = DAY_START + 9 * 3600
    for index, port in enumerate(rng.sample(range(1, 20_000), 1000)):
        w.attempt(
            "port-scan",
            SCANNER,
            WEB[0],
            port,
            base + index // 4,
            action="ACCEPT" if port in (80, 9200) else "REJECT",
            answered=port in (80, 9200),
        )
    w.attempt("port-scan", SCANNER, WEB[0], 9200, base + 100, action="ACCEPT", answered=True)
    # A probe of an exposed MySQL at 10:00, after refusals on other database ports.
    base = DAY_START + 10 * 3600
    for port in (1433, 5432, 27017):
        w.attempt("port-probe", MYSQL_PROBER, EXPOSED_MYSQL, port, base + port % 60)
    for index in range(6):
        w.attempt(
            "port-probe",
            MYSQL_PROBER,
            EXPOSED_MYSQL,
            3306,
            base + 120 + index * 20,
            action="ACCEPT",
            packets=3,
            answered=True,
        )
    # An outsider using an internet-exposed PostgreSQL at 13:00: real sessions.
    base = DAY_START + 13 * 3600
    for index in range(12):
        w.connection(
            "internet-db-access",
            PG_INTRUDER,
            EXPOSED_PG,
            5432,
            base + index * 300,
            duration=rng.randrange(20, 200),
            packets=rng.randrange(80, 600),
            size=rng.randrange(5000, 40_000),
            reply_size=rng.randrange(100_000, 9_000_000),
        )
    # Internal sweep at 14:00: one host, port 6379, 80 addresses in two minutes.
    base = DAY_START + 14 * 3600
    for index in range(80):
        target = f"10.20.{7 + index // 40}.{index % 40 + 1}"
        w.attempt("internal-sweep", SWEEP_HOST, target, 6379, base + index, action="REJECT")
    # Internal fan-out at 15:00: admin ports on 25 hosts within 30 minutes.
    base = DAY_START + 15 * 3600
    for index, host in enumerate(WORKERS[:25]):
        for port in (22, 445, 3389, 5985):
            w.attempt(
                "internal-fan-out",
                FANOUT_HOST,
                host,
                port,
                base + index * 60 + port % 7,
                action="ACCEPT" if port == 445 else "REJECT",
                packets=2,
                answered=port == 445,
            )
    # Exfiltration at 20:00: 6 GB to a destination never seen before.
    base = DAY_START + 20 * 3600
    for index in range(12):
        w.connection(
            "exfiltration",
            EXFIL_HOST,
            EXFIL_PEER,
            443,
            base + index * 300,
            duration=280,
            packets=400_000,
            size=500_000_000,
            reply_size=2_000_000,
        )
    # Beaconing all day: every 60 s (+-2 s), small steady sizes.
    for tick in range(0, DAY - 120, 60):
        w.connection(
            "beaconing",
            BEACON_HOST,
            C2,
            443,
            DAY_START + tick + rng.randrange(-2, 3) + 2,
            duration=1,
            packets=6,
            size=rng.randrange(410, 440),
            reply_size=rng.randrange(300, 330),
        )
    # A long connection: 8 hours to one outside peer.
    w.connection(
        "long-connection",
        LONG_HOST,
        LONG_PEER,
        8443,
        DAY_START + 8 * 3600 + 17,
        duration=8 * 3600,
        packets=40_000,
        size=4_000_000,
        reply_size=9_000_000,
    )
    # Threat intel: a host talks to a listed address; a listed address probes (refused).
    for index in range(5):
        w.connection(
            "threat-intel",
            INTEL_HOST,
            INTEL_ADDRESS,
            443,
            DAY_START + 12 * 3600 + index * 700,
            duration=30,
            packets=40,
            size=6000,
        )
    for port in (22, 23, 445):
        w.attempt("threat-intel", INTEL_PROBER, BASTION, port, DAY_START + 5 * 3600 + port)
    # Crypto-mining: a stratum connection for 6 hours.
    w.connection(
        "crypto-mining",
        MINER_HOST,
        POOL,
        3333,
        DAY_START + 16 * 3600,
        duration=6 * 3600,
        packets=30_000,
        size=3_000_000,
        reply_size=2_500_000,
    )
    # DNS to an outside resolver: 3000 queries in two hours (tunnelling).
    base = DAY_START + 18 * 3600
    for _ in range(3000):
        w.connection(
            "outside-dns",
            DNS_HOST,
            OUTSIDE_RESOLVER,
            53,
            base + rng.randrange(7200),
            proto=UDP,
            packets=1,
            size=rng.randrange(90, 250),
            reply_size=200,
        )
    # A spike in rejected traffic: a host tries port 25 on 400 outside addresses in 10 min.
    base = DAY_START + 21 * 3600
    for index in range(400):
        w.attempt(
            "rejected-spike",
            SPIKE_HOST,
            f"{110 + index % 100}.{index % 250}.9.{index % 200 + 1}",
            25,
            base + index,
        )


def _partner(w: Writer, rng: random.Random) -> None:
    """The API host's nightly export to a partner at about 01:00: 4 transfers of 300 MB on
    the day and on each of the 6 nights before it (the only records before the day), a
    recurring destination that unusual outbound volume must leave out, though it gets more
    bytes than the exfiltration."""
    for night in range(-6, 1):
        base = DAY_START + night * DAY + 3600 + rng.randrange(600)
        for index in range(4):
            w.connection(
                "partner",
                API,
                PARTNER,
                443,
                base + index * 240 + rng.randrange(30),
                duration=200,
                packets=220_000,
                size=300_000_000,
                reply_size=1_000_000,
            )


def generate_day(path: Path | str, *, seed: int = 15) -> Scenario:
    """Write the labelled day to `path` (gzip when it ends in .gz)."""
    rng = random.Random(seed)
    path = Path(path)
    with _open(path) as out:
        out.write(FIELDS + "\n")
        writer = Writer(out, rng)
        _benign(writer, rng)
        _attacks(writer, rng)
        _partner(writer, rng)
        writer.flush()
    return Scenario(
        path=str(path),
        records=len(writer.labels),
        vpc_cidrs=list(VPC_CIDRS),
        activities=[*ATTACKS, *BENIGN],
        labels=writer.labels,
        indicators=[
            (INTEL_ADDRESS, "c2 list"),
            (INTEL_PROBER, "scanner list"),
            ("203.0.113.0/24", "documentation range"),
        ],
    )


def generate_noisy(path: Path | str, *, lines: int, seed: int = 5) -> int:
    """Internet noise for the speed run: thousands of scanning sources (some sweeping ports,
    some SSH guessing, most a packet or two) against the public hosts, beside web traffic.
    Returns the number of records written."""
    rng = random.Random(seed)
    path = Path(path)
    scanners = [
        f"{rng.randrange(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        for _ in range(5000)
    ]
    clients = [
        f"{rng.randrange(11, 220)}.{rng.randrange(256)}.{rng.randrange(256)}."
        f"{rng.randrange(1, 255)}"
        for _ in range(20_000)
    ]
    written = 0
    with _open(path) as out:
        out.write(FIELDS + "\n")
        batch: list[str] = []
        while written < lines:
            roll = rng.random()
            when = DAY_START + rng.randrange(DAY - 30)
            if roll < 0.55:
                src, dst = rng.choice(scanners), rng.choice(PUBLIC_FACING)
                port = (
                    rng.randrange(1, 65536)
                    if rng.random() < 0.6
                    else rng.choice((22, 3389, 23, 445, 80, 443))
                )
                accepted = port in (80, 443) and dst in LB
                action = "ACCEPT" if accepted else "REJECT"
                line = (
                    f"5 {ACCOUNT} {eni(dst)} {src} {dst} {rng.randrange(1024, 65535)} {port} "
                    f"6 1 44 {when} {when + 1} {action} OK 2 ingress {src} {dst} - -"
                )
                batch.append(line)
                written += 1
            else:
                client, lb = rng.choice(clients), rng.choice(LB)
                sport = rng.randrange(32768, 61000)
                packets, size = rng.randrange(8, 60), rng.randrange(800, 9000)
                batch.append(
                    f"5 {ACCOUNT} {eni(lb)} {client} {lb} {sport} 443 6 {packets} {size} "
                    f"{when} {when + 5} ACCEPT OK 3 ingress {client} {lb} - -"
                )
                batch.append(
                    f"5 {ACCOUNT} {eni(lb)} {lb} {client} 443 {sport} 6 {packets} "
                    f"{size * 8} {when} {when + 5} ACCEPT OK 19 egress {lb} {client} - -"
                )
                written += 2
            if len(batch) >= 100_000:
                out.write("\n".join(batch) + "\n")
                batch.clear()
        if batch:
            out.write("\n".join(batch) + "\n")
    return written
