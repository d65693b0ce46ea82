import secrets

from django.db import migrations, models

import annotation.models


def shuffle_existing(apps, schema_editor):
    # AddField gives every existing row the same default; give each its own random number.
    CampaignItem = apps.get_model("annotation", "CampaignItem")
    rows = list(CampaignItem.objects.only("pk"))
    for row in rows:
        row.shuffle = secrets.randbelow(annotation.models.SHUFFLE_MODULUS)
    CampaignItem.objects.bulk_update(rows, ["shuffle"], batch_size=1000)


class Migration(migrations.Migration):

    dependencies = [
        ("annotation", "0004_label_annotation__campaig_e62033_idx"),
    ]

    operations = [
        migrations.AddField(
            model_name="campaignitem",
            name="shuffle",
            field=models.PositiveIntegerField(default=annotation.models.random_shuffle, editable=False),
        ),
        migrations.RunPython(shuffle_existing, migrations.RunPython.noop),
    ]
