from django.db import migrations, models


def backfill(apps, schema_editor):
    """A campaign that already has labels got its first label when the earliest of them was given."""
    Campaign = apps.get_model("annotation", "Campaign")
    for campaign in Campaign.objects.filter(first_label_at__isnull=True, labels__isnull=False).distinct():
        campaign.first_label_at = campaign.labels.aggregate(first=models.Min("created_at"))["first"]
        Campaign.objects.filter(pk=campaign.pk).update(first_label_at=campaign.first_label_at)


class Migration(migrations.Migration):

    dependencies = [
        ("annotation", "0009_merge_20261202_0845"),
    ]

    operations = [
        migrations.AddField(
            model_name="campaign",
            name="first_label_at",
            field=models.DateTimeField(
                blank=True, editable=False, null=True,
                help_text="When the campaign got its first label. From then on what annotators were shown and the "
                "registered analysis are frozen, even if every label is deleted later (set and kept by the database)."),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
