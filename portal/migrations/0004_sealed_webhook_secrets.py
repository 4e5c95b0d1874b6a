"""Webhook signing secrets sealed at rest (portal.sealing); existing plaintext ones sealed now."""

from typing import Any

from django.db import migrations, models


def seal_existing(apps: Any, schema_editor: Any) -> None:
    from portal.sealing import is_sealed, seal

    Webhook = apps.get_model("portal", "Webhook")
    for hook in Webhook.objects.all().only("pk", "secret"):
        if not is_sealed(hook.secret):
            Webhook.objects.filter(pk=hook.pk).update(secret=seal(hook.secret))


def unseal_existing(apps: Any, schema_editor: Any) -> None:
    from portal.sealing import is_sealed, unseal

    Webhook = apps.get_model("portal", "Webhook")
    for hook in Webhook.objects.all().only("pk", "secret"):
        if is_sealed(hook.secret):
            Webhook.objects.filter(pk=hook.pk).update(secret=unseal(hook.secret))


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0003_concurrency_slots"),
    ]

    operations = [
        migrations.AlterField(
            model_name="webhook",
            name="secret",
            field=models.CharField(help_text="The signing secret, sealed at rest", max_length=255),
        ),
        migrations.RunPython(seal_existing, unseal_existing),
    ]
