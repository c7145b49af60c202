import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [("distribution", "0006_channels_data")]

    operations = [
        migrations.AlterField(
            model_name="accesstoken", name="channel",
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="access_tokens",
                                    to="distribution.channel")),
        migrations.AlterField(
            model_name="publication", name="channel",
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="publications",
                                    to="distribution.channel")),
        migrations.AlterField(
            model_name="publishedversion", name="channel",
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="published_versions",
                                    to="distribution.channel")),
    ]
