"""Findings gain an identity across runs, and sightings (one per run that saw them).

Existing findings: each gets its identity computed from its stored type and evidence (the same
rule as `analysis.findings.finding_identity`, copied here so this migration stays fixed) and one
sighting for the run that raised it.

Old duplicates (the same identity raised by several runs of one investigation, from before
identities) are kept distinct, not merged: merging would drop the triage status, assignee and
comment of every row but one, and leave the audit events and timeline entries that name those
rows pointing at nothing. The newest of them (latest run) keeps the plain identity, so the next
run adds its sighting there; the older ones get the suffix "#legacy-<id>" and stay as they were.
"""

import django.db.models.deletion
from django.db import migrations, models

BATCH = 500


def _identity(kind, evidence):
    evidence = evidence if isinstance(evidence, dict) else {}
    campaign = bool(evidence.get("campaign"))
    actor = "campaign" if campaign else str(evidence.get("peer") or "")
    targets = evidence.get("targets") or []
    count = evidence.get("target_count", len(targets) if isinstance(targets, list) else None)
    single = isinstance(targets, list) and len(targets) == 1 and count in (1, None)
    target = (
        str(targets[0]) if single or (campaign and isinstance(targets, list) and targets) else ""
    )
    return "|".join((kind, actor, target))


def forwards(apps, schema_editor):
    Finding = apps.get_model("investigations", "Finding")
    Sighting = apps.get_model("investigations", "FindingSighting")
    seen = set()
    # Newest run first, so the latest of a set of duplicates keeps the plain identity.
    rows = Finding.objects.order_by("-run_id", "-id").iterator(chunk_size=BATCH)
    updates, sightings = [], []
    for finding in rows:
        evidence = finding.evidence if isinstance(finding.evidence, dict) else {}
        identity = _identity(str(evidence.get("detection_id") or finding.type), evidence)
        if (finding.investigation_id, identity) in seen:
            identity = f"{identity}#legacy-{finding.pk}"
        seen.add((finding.investigation_id, identity))
        finding.identity = identity[:400]
        finding.last_run_id = finding.run_id
        finding.sighting_count = 1
        updates.append(finding)
        sightings.append(
            Sighting(
                finding_id=finding.pk,
                run_id=finding.run_id,
                first_seen=finding.first_seen,
                last_seen=finding.last_seen,
                severity=finding.severity,
                title=finding.title,
                evidence=finding.evidence,
            )
        )
        if len(updates) >= BATCH:
            Finding.objects.bulk_update(updates, ["identity", "last_run", "sighting_count"])
            Sighting.objects.bulk_create(sightings)
            updates, sightings = [], []
    Finding.objects.bulk_update(updates, ["identity", "last_run", "sighting_count"])
    Sighting.objects.bulk_create(sightings)
    if schema_editor.connection.vendor == "postgresql":
        # Check the deferred foreign keys now: PostgreSQL refuses the ALTER TABLE below while
        # the rows written above still have pending trigger events.
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


class Migration(migrations.Migration):
    dependencies = [
        ("investigations", "0006_reference_table_shared_editable"),
    ]

    operations = [
        migrations.AlterField(
            model_name="finding",
            name="run",
            field=models.ForeignKey(
                help_text="The run that first raised it; later runs that see it again add sightings.",
                on_delete=django.db.models.deletion.CASCADE,
                related_name="findings",
                to="investigations.queryrun",
            ),
        ),
        migrations.AddField(
            model_name="finding",
            name="identity",
            field=models.CharField(
                blank=True,
                default="",
                db_index=True,
                help_text="Detection (or type), actor and target: a finding's identity across runs.",
                max_length=400,
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="finding",
            name="last_run",
            field=models.ForeignKey(
                blank=True,
                help_text="The latest run that sighted it.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="investigations.queryrun",
            ),
        ),
        migrations.AddField(
            model_name="finding",
            name="sighting_count",
            field=models.PositiveIntegerField(default=1, help_text="How many runs sighted it."),
        ),
        migrations.CreateModel(
            name="FindingSighting",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("first_seen", models.DateTimeField(blank=True, null=True)),
                ("last_seen", models.DateTimeField(blank=True, null=True)),
                ("severity", models.DecimalField(decimal_places=1, max_digits=3)),
                (
                    "previous_severity",
                    models.DecimalField(
                        blank=True,
                        decimal_places=1,
                        help_text="The finding's severity before this sighting (none for its first).",
                        max_digits=3,
                        null=True,
                    ),
                ),
                ("title", models.CharField(blank=True, max_length=300)),
                ("evidence", models.JSONField(blank=True, default=dict)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "finding",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="sightings",
                        to="investigations.finding",
                    ),
                ),
                (
                    "run",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="sightings",
                        to="investigations.queryrun",
                    ),
                ),
            ],
            options={
                "ordering": ["-run_id", "-id"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("finding", "run"), name="unique_finding_sighting"
                    )
                ],
            },
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="finding",
            constraint=models.UniqueConstraint(
                condition=models.Q(("identity", ""), _negated=True),
                fields=("investigation", "identity"),
                name="unique_finding_identity",
            ),
        ),
    ]
