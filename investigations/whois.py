"""WHOIS/RDAP enrichment for runs: the database cache behind analysis.enrich's Enricher, with a
TTL for answers and a shorter one for negative answers, and the per-run enricher."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from analysis.enrich import UNKNOWN, AddressInfo, Enricher, RdapClient
from investigations.models import WhoisRecord
from investigations.reference import open_as_database


class DatabaseWhoisCache:
    """Enricher cache backed by WhoisRecord, remembering this run's timeouts in memory so a slow
    registry costs the run one deadline, not one per analysis."""

    def __init__(self) -> None:
        self.session: dict[str, AddressInfo] = {}

    def get(self, ip: str) -> AddressInfo | None:
        if ip in self.session:
            return self.session[ip]
        record = WhoisRecord.objects.filter(ip=ip, expires_at__gt=timezone.now()).first()
        return AddressInfo.from_dict(record.info) if record else None

    def set(self, ip: str, info: AddressInfo) -> None:
        self.session[ip] = info
        if not info.cacheable:
            return
        days = (
            settings.WHOIS_CACHE_DAYS
            if info.status == "found"
            else settings.WHOIS_NEGATIVE_CACHE_DAYS
        )
        fields = {
            "status": info.status,
            "info": info.to_dict(),
            "expires_at": timezone.now() + timedelta(days=days),
        }
        try:
            with transaction.atomic():
                WhoisRecord.objects.update_or_create(ip=ip, defaults=fields)
        except IntegrityError:  # a concurrent run cached it first; theirs is as good
            pass


class RegistryCircuitBreaker:
    """Stops asking the registry for the rest of a run after a few failures in a row: an
    air-gapped or cut-off portal then costs a run a second, not a timeout per address."""

    def __init__(self, client: RdapClient, *, trip_after: int = 3) -> None:
        self.client = client
        self.trip_after = trip_after
        self.failures = 0
        self.lock = threading.Lock()

    def lookup(self, ip: str) -> AddressInfo:
        with self.lock:
            tripped = self.failures >= self.trip_after
        if tripped:
            return AddressInfo(ip, "skipped", UNKNOWN, network="registry unreachable")
        info = self.client.lookup(ip)
        with self.lock:
            self.failures = self.failures + 1 if info.status in ("error", "timeout") else 0
        return info


def enricher_for(params: Any) -> Enricher:
    client = (
        RegistryCircuitBreaker(
            RdapClient(settings.RDAP_BASE_URL, timeout=settings.WHOIS_TIMEOUT_SECONDS)
        )
        if settings.WHOIS_ENABLED
        else None
    )
    return Enricher(
        cache=DatabaseWhoisCache(),
        client=client,
        known_hosts=params.known_hosts,
        internal_cidrs=[*params.vpc_cidrs, *getattr(params, "extra_internal_cidrs", [])],
        max_lookups=settings.WHOIS_MAX_LOOKUPS,
        deadline=settings.WHOIS_DEADLINE_SECONDS,
        geo_lookup=settings.GEO_ENABLED,
        geo_database=open_as_database() if settings.GEO_ENABLED else None,
    )
