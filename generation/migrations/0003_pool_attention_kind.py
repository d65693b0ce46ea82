from django.db import migrations, models

CHOICES = [("raw", "Training images"), ("reconstruction", "Reconstructions of held-out images"),
           ("both", "Both (half each)")]
HELP = ("Raw training images look sharper than generated ones; reconstructions of held-out images "
        "(encoder mean, regular decoding) pass through the same decoder as the pool.")


class Migration(migrations.Migration):
    dependencies = [
        ("generation", "0002_heartbeat_and_validation"),
    ]

    operations = [
        # Pools built before this field existed hold raw training images: they are "raw"; new pools default to
        # reconstructions.
        migrations.AddField(
            model_name="samplepool",
            name="attention_kind",
            field=models.CharField(choices=CHOICES, default="raw", help_text=HELP, max_length=20,
                                   verbose_name="attention checks"),
        ),
        migrations.AlterField(
            model_name="samplepool",
            name="attention_kind",
            field=models.CharField(choices=CHOICES, default="reconstruction", help_text=HELP, max_length=20,
                                   verbose_name="attention checks"),
        ),
    ]
