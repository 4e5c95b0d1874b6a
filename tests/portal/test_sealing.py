"""Webhook signing secrets are sealed at rest, open after a SECRET_KEY rotation done the
documented way, and a secret no key opens fails its deliveries clearly instead of retrying."""

from __future__ import annotations

import importlib
from io import StringIO
from typing import Any

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command

from portal.models import Webhook, WebhookDelivery
from portal.sealing import UnsealError, is_sealed, reseal, seal, unseal
from portal.webhooks import attempt_delivery, create_webhook

pytestmark = pytest.mark.django_db

OLD_KEY = "old-key-" + "o" * 40
NEW_KEY = "new-key-" + "n" * 40


def _stored(hook: Webhook) -> str:
    return str(Webhook.objects.filter(pk=hook.pk).values_list("secret", flat=True).get())


def _hook(analyst: Any) -> tuple[Webhook, str]:
    return create_webhook(
        user=analyst, name="siem", url="https://siem.example.com/hook", events=["run.finished"]
    )


def test_a_sealed_value_opens_to_its_plaintext_and_shows_none_of_it() -> None:
    sealed = seal("whsec_abc123")
    assert is_sealed(sealed) and "abc123" not in sealed
    assert seal("whsec_abc123") != sealed  # a fresh IV each time
    assert unseal(sealed) == "whsec_abc123"


def test_a_damaged_or_unsealed_value_is_refused() -> None:
    sealed = seal("whsec_abc123")
    with pytest.raises(UnsealError):
        unseal(sealed[:-4] + "AAAA")
    with pytest.raises(UnsealError, match="not sealed"):
        unseal("whsec_abc123")


def test_the_database_holds_a_webhook_secret_sealed(analyst: Any) -> None:
    hook, secret = _hook(analyst)
    stored = _stored(hook)
    assert secret.startswith("whsec_") and secret not in stored and is_sealed(stored)
    assert Webhook.objects.get(pk=hook.pk).signing_secret == secret


def test_secrets_open_after_a_rotation_with_the_old_key_as_fallback(
    analyst: Any, settings: Any
) -> None:
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = OLD_KEY, []
    hook, secret = _hook(analyst)
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW_KEY, [OLD_KEY]
    assert Webhook.objects.get(pk=hook.pk).signing_secret == secret
    out = StringIO()
    call_command("reseal_secrets", stdout=out)
    assert "Resealed 1 webhook secret" in out.getvalue()
    settings.SECRET_KEY_FALLBACKS = []  # the old key can go now
    assert Webhook.objects.get(pk=hook.pk).signing_secret == secret


def test_resealing_changes_nothing_when_a_secret_opens_with_no_key(
    analyst: Any, settings: Any
) -> None:
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = OLD_KEY, []
    lost, _ = _hook(analyst)
    settings.SECRET_KEY = NEW_KEY
    kept, _ = create_webhook(
        user=analyst, name="soar", url="https://soar.example.com/other", events=["run.finished"]
    )
    before = {hook.pk: _stored(hook) for hook in (lost, kept)}
    with pytest.raises(CommandError, match=f"webhook {lost.pk} "):
        call_command("reseal_secrets", stdout=StringIO())
    assert {hook.pk: _stored(hook) for hook in (lost, kept)} == before


def test_a_delivery_whose_secret_no_key_opens_fails_at_once_and_says_why(
    analyst: Any, settings: Any
) -> None:
    settings.SECRET_KEY = OLD_KEY
    hook, _ = _hook(analyst)
    delivery = WebhookDelivery.objects.create(
        webhook=hook, message_id="msg_x", event="run.finished", payload={"a": 1}
    )
    settings.SECRET_KEY = NEW_KEY
    assert (
        attempt_delivery(WebhookDelivery.objects.select_related("webhook").get(pk=delivery.pk))
        is False
    )
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.FAILED  # no retries: none could be signed
    assert delivery.attempts == 1 and delivery.last_status_code is None
    assert delivery.last_error.startswith("Not sent: no configured key opens this secret")


def test_the_migration_seals_secrets_stored_in_clear(analyst: Any) -> None:
    hook, secret = _hook(analyst)
    Webhook.objects.filter(pk=hook.pk).update(secret=secret)  # as stored before the migration
    migration = importlib.import_module("portal.migrations.0004_sealed_webhook_secrets")
    migration.seal_existing(apps, None)
    migration.seal_existing(apps, None)  # twice: a sealed secret is left as it is
    assert is_sealed(_stored(hook)) and unseal(_stored(hook)) == secret
    migration.unseal_existing(apps, None)
    assert _stored(hook) == secret


def test_reseal_seals_plaintext_and_renews_sealed_values() -> None:
    assert unseal(reseal("whsec_plain")) == "whsec_plain"
    sealed = seal("whsec_x")
    assert reseal(sealed) != sealed and unseal(reseal(sealed)) == "whsec_x"
