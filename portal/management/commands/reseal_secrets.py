"""manage.py reseal_secrets: seal every stored secret under the current SECRET_KEY."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from portal.models import Webhook
from portal.sealing import UnsealError, reseal


class Command(BaseCommand):
    help = (
        "Seal every webhook signing secret under the current SECRET_KEY. Run it after a key "
        "rotation, while the old key is still in SECRET_KEY_FALLBACKS; then drop the old key."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        failed: list[str] = []
        done = 0
        with transaction.atomic():
            for hook in Webhook.objects.select_for_update().only("pk", "name", "secret"):
                try:
                    hook.secret = reseal(hook.secret)
                except UnsealError as exc:
                    failed.append(f"webhook {hook.pk} ({hook.name}): {exc}")
                    continue
                hook.save(update_fields=["secret"])
                done += 1
            if failed:
                raise CommandError(
                    "Nothing was changed; these secrets open with none of the configured keys "
                    "(make the webhooks again, or put the old key in SECRET_KEY_FALLBACKS):\n"
                    + "\n".join(failed)
                )
        self.stdout.write(f"Resealed {done} webhook secret(s) under the current SECRET_KEY.")
