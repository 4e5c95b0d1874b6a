"""Secrets the portal must read back (webhook signing keys), sealed at rest.

A hash will not do for a signing key: every delivery needs the key itself. So the database
holds it encrypted (Fernet: AES-128-CBC with HMAC-SHA256) under a key derived from
SECRET_KEY, and a copy of the database alone reveals nothing. Keys derived from
SECRET_KEY_FALLBACKS still open what they sealed, so SECRET_KEY can be rotated the way Django
documents; `manage.py reseal_secrets` then seals everything under the new key.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

PREFIX = "sealed:v1:"
# Binds the derived keys to this use: nothing else derived from SECRET_KEY can open them.
_CONTEXT = b"flowportal sealed secrets v1"


class UnsealError(Exception):
    """A sealed value that none of the configured keys opens (SECRET_KEY changed without the
    old one in SECRET_KEY_FALLBACKS), or that is damaged."""


def _fernet_for(secret_key: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_CONTEXT).derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def _keys() -> MultiFernet:
    """The current key first (it seals), then the fallbacks (they only open)."""
    fallbacks: Iterable[str] = getattr(settings, "SECRET_KEY_FALLBACKS", [])
    secret_keys = [settings.SECRET_KEY, *fallbacks]
    return MultiFernet([_fernet_for(key) for key in secret_keys])


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX)


def seal(plaintext: str) -> str:
    """`plaintext` encrypted under the current SECRET_KEY, as text for a CharField."""
    return PREFIX + _keys().encrypt(plaintext.encode()).decode("ascii")


def unseal(value: str) -> str:
    """The plaintext of a value made by seal(); raises UnsealError when no key opens it."""
    if not is_sealed(value):
        raise UnsealError("the value is not sealed")
    try:
        return _keys().decrypt(value.removeprefix(PREFIX).encode("ascii")).decode()
    except (InvalidToken, UnicodeError) as exc:
        raise UnsealError(
            "no configured key opens this secret: was SECRET_KEY changed without keeping the "
            "old one in SECRET_KEY_FALLBACKS?"
        ) from exc


def reseal(value: str) -> str:
    """`value` sealed under the current key (a plaintext value is sealed for the first time)."""
    return seal(unseal(value) if is_sealed(value) else value)
