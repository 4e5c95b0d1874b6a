"""Creating API tokens: the secret is generated here, returned once, and only its hash is kept."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from portal import audit
from portal.models import ApiToken

TOKEN_PREFIX = "fp_"  # noqa: S105 - a public marker, not a secret
VALID_SCOPES = {name for name, _ in ApiToken.SCOPES}


def create_token(
    *, user: Any, name: str, scopes: list[str], expires_at: datetime | None = None, actor: Any
) -> tuple[ApiToken, str]:
    unknown = sorted(set(scopes) - VALID_SCOPES)
    if unknown:
        raise ValueError(
            f"Unknown scope(s): {', '.join(unknown)}. Valid: {', '.join(sorted(VALID_SCOPES))}."
        )
    if not scopes:
        raise ValueError("A token needs at least one scope.")
    key = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=key[:10],
            key_hash=ApiToken.hash_key(key),
            scopes=sorted(set(scopes)),
            expires_at=expires_at,
        )
        audit.record(
            actor=actor,
            action="api_token.created",
            target=token,
            details={"user": user.get_username(), "scopes": token.scopes},
        )
    return token, key


def revoke_token(*, token: ApiToken, actor: Any) -> ApiToken:
    with transaction.atomic():
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            audit.record(
                actor=actor,
                action="api_token.revoked",
                target=token,
                details={"user": token.user.get_username()},
            )
    return token
