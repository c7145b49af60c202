from django.conf import settings
from django.db import models

from anvil_forge.core.models import Timestamped


class Status(models.TextChoices):
    LIVE = "live", "LIVE"
    REVIEW = "review", "REVIEW"
    LOCKED = "locked", "LOCKED"


class Project(Timestamped):
    organisation = models.ForeignKey("orgs.Organisation", on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=64)
    description = models.TextField(blank=True)
    # REVIEW -> LOCKED only while every prompt test passes (docs/prompt-tests.md, "The gate").
    tests_gate = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "slug"], name="project_slug_unique"),
            models.UniqueConstraint(fields=["organisation", "name"], name="project_name_unique"),
        ]

    def __str__(self):
        return self.name


class Kind(models.TextChoices):
    TEXT = "text", "text"
    CHAT = "chat", "chat"


class PromptSet(Timestamped):
    """The unit of versioning. Outside LIVE its content is frozen (database triggers, see migration 0002)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prompt_sets")
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=64)
    description = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # Model configuration defaults, merged beneath each prompt's own (anvil_client.model_config.merge).
    config = models.JSONField(default=dict, blank=True)
    # Other sets of the project whose prompts this set's prompts render as partials: slug → version
    # specifier ("^1.2"); a version locks each to the exact version it resolved to (see composition.py).
    dependencies = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.LIVE)
    # Highest version sequence ever given out, so a deleted version's number is never reused.
    last_sequence = models.PositiveIntegerField(default=0)
    # The ETag of the content the last push from files wrote (docs/prompts-as-code.md): while the working
    # copy still has it, nobody changed it on the FORGE since.
    pushed_etag = models.CharField(max_length=40, blank=True, default="")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "slug"], name="promptset_slug_unique"),
            models.UniqueConstraint(fields=["project", "name"], name="promptset_name_unique"),
            models.CheckConstraint(condition=models.Q(status__in=Status.values), name="promptset_status_valid"),
        ]

    def __str__(self):
        return self.name

    @property
    def is_editable(self) -> bool:
        return self.status == Status.LIVE


class Prompt(Timestamped):
    prompt_set = models.ForeignKey(PromptSet, on_delete=models.CASCADE, related_name="prompts")
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=64)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.TEXT)
    template = models.TextField(blank=True)  # a text prompt's template
    # A chat prompt's messages: [{"role", "content"} | {"placeholder"}], validated by anvil_client.templates
    messages = models.JSONField(default=list, blank=True)
    config = models.JSONField(default=dict, blank=True)  # model configuration (anvil_client.model_config)
    # [{"name", "type", "description", "required", "default"}], validated by anvil_client.templates
    parameters = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # Test cases, in anvil_client.testcases.to_json's form (docs/prompt-tests.md).
    tests = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["prompt_set", "slug"], name="prompt_slug_unique"),
            models.UniqueConstraint(fields=["prompt_set", "name"], name="prompt_name_unique"),
            models.CheckConstraint(condition=models.Q(kind__in=Kind.values), name="prompt_kind_valid"),
        ]

    def __str__(self):
        return self.name

    @property
    def flat_id(self) -> str:
        return f"{self.prompt_set.slug}.{self.slug}"


class Version(Timestamped):
    """An immutable snapshot of a prompt set. Only ``first_published_at`` may ever be set later."""

    prompt_set = models.ForeignKey(PromptSet, on_delete=models.CASCADE, related_name="versions")
    label = models.CharField(max_length=128)
    changelog = models.TextField(blank=True)
    snapshot = models.JSONField()
    sequence = models.PositiveIntegerField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    first_published_at = models.DateTimeField(null=True, blank=True)
    # What the snapshot's tests gave when the version was made (testresults.py); None before tests existed.
    test_results = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["prompt_set", "-sequence"]
        constraints = [
            models.UniqueConstraint(fields=["prompt_set", "label"], name="version_label_unique"),
            models.UniqueConstraint(fields=["prompt_set", "sequence"], name="version_sequence_unique"),
            models.CheckConstraint(condition=models.Q(sequence__gte=1), name="version_sequence_positive"),
        ]

    def __str__(self):
        return f"{self.prompt_set.slug}@{self.label}"


class ApprovalSource(models.TextChoices):
    REVIEW = "review", "approved in review"
    VERSION = "version", "approved as a version"
    IMPORT = "import", "imported as LOCKED"
    EARLIER = "earlier", "published or LOCKED before approvals were recorded"


class Approval(Timestamped):
    """Content of a prompt set that an approver approved: a version is publishable only when its content
    (``content_digest`` of its snapshot) is one of its set's approvals. Rows are only ever added."""

    prompt_set = models.ForeignKey(PromptSet, on_delete=models.CASCADE, related_name="approvals")
    digest = models.CharField(max_length=64)
    source = models.CharField(max_length=10, choices=ApprovalSource.choices)
    version = models.ForeignKey(Version, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["prompt_set", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["prompt_set", "digest"], name="approval_digest_unique"),
        ]
