"""Every project gets its ``production`` channel; what existed before channels becomes production's: the
tokens, instances, published versions and publications (each with its whole release content, replayed)."""

from django.db import migrations


def forwards(apps, schema_editor):
    Project = apps.get_model("prompts", "Project")
    Channel = apps.get_model("distribution", "Channel")
    AccessToken = apps.get_model("distribution", "AccessToken")
    LiveInstance = apps.get_model("distribution", "LiveInstance")
    PublishedVersion = apps.get_model("distribution", "PublishedVersion")
    Publication = apps.get_model("distribution", "Publication")
    for project in Project.objects.all().iterator():
        channel, _ = Channel.objects.get_or_create(project=project, name="production")
        AccessToken.objects.filter(project=project, channel__isnull=True).update(channel=channel)
        LiveInstance.objects.filter(project=project, channel__isnull=True).update(channel=channel)
        PublishedVersion.objects.filter(project=project, channel__isnull=True).update(channel=channel)
        content = {}
        for publication in Publication.objects.filter(project=project).order_by("sequence"):
            content[str(publication.prompt_set_id)] = str(publication.version_id)
            publication.channel = channel
            publication.content = dict(content)
            publication.save(update_fields=["channel", "content"])


class Migration(migrations.Migration):

    dependencies = [("distribution", "0005_channels"), ("prompts", "0005_tests")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
