import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("investigations", "0005_finding_triage_assignee_comment"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="referencetable",
            name="shared_editable",
            field=models.BooleanField(
                default=False,
                help_text="The owner lets every analyst publish new versions, not only owner and admins.",
            ),
        ),
        migrations.AlterField(
            model_name="referencetable",
            name="created_by",
            field=models.ForeignKey(
                help_text="The table's owner: they (and admins) publish its versions.",
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
    ]
