"""Per-token request throttling: each API token (or session user) has its own budget; over it,
the API answers 429 with Retry-After. Without its cache the limiter fails open."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from portal.models import ApiToken

logger = logging.getLogger(__name__)


class TokenRateThrottle(SimpleRateThrottle):
    scope = "token"

    def get_rate(self) -> str:
        return str(settings.API_TOKEN_RATE)

    def allow_request(self, request: Request, view: Any) -> bool:
        """Fails open: when the cache holding the counters is down (a Redis outage), requests
        go through unthrottled and the outage is logged, rather than every call failing."""
        try:
            return bool(super().allow_request(request, view))
        except Exception as exc:  # any cache backend's connection error
            logger.warning("API rate limiter unavailable, not throttling: %s", type(exc).__name__)
            return True

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if isinstance(request.auth, ApiToken):
            ident = f"token-{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"anon-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
