from django.conf import settings
from django.db import models

from anvil_forge.core.ids import uuid7
from anvil_forge.core.models import Timestamped


class AccessToken(Timestamped):
    """A project-level secret LIVE clients use to pull, stream and register. Only its hash is stored."""

    project = models.ForeignKey("prompts.Project", on_delete=models.CASCADE, related_name="access_tokens")
    label = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=16)  # the first characters, to recognise a token in lists
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.label} ({self.prefix}…)"


class PublishedVersion(Timestamped):
    """Which version of a prompt set the project currently distributes (one row per published set)."""

    project = models.ForeignKey("prompts.Project", on_delete=models.CASCADE, related_name="published_versions")
    prompt_set = models.OneToOneField("prompts.PromptSet", on_delete=models.PROTECT, related_name="published")
    version = models.ForeignKey("prompts.Version", on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["prompt_set__slug"]


class Publication(models.Model):
    """One publish: the project's sequence rises by one each time. The newest row is the current state."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    project = models.ForeignKey("prompts.Project", on_delete=models.CASCADE, related_name="publications")
    sequence = models.PositiveIntegerField()
    prompt_set = models.ForeignKey("prompts.PromptSet", on_delete=models.PROTECT, related_name="+")
    version = models.ForeignKey("prompts.Version", on_delete=models.PROTECT, related_name="+")
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "-sequence"]
        constraints = [
            models.UniqueConstraint(fields=["project", "sequence"], name="publication_sequence_unique"),
            models.CheckConstraint(condition=models.Q(sequence__gte=1), name="publication_sequence_positive"),
        ]


class Mode(models.TextChoices):
    ACCEPTING = "accepting"
    FROZEN = "frozen"


class LiveInstance(Timestamped):
    """A running LIVE client, as it last reported itself (register / heartbeat with an access token)."""

    project = models.ForeignKey("prompts.Project", on_delete=models.CASCADE, related_name="live_instances")
    instance_id = models.CharField(max_length=64)
    host = models.CharField(max_length=255, blank=True)
    mode = models.CharField(max_length=10, choices=Mode.choices)
    receiver_url = models.URLField(max_length=500, blank=True)
    # The secret the client asked pushes to present (it only authorises pushes of signed bundles).
    receiver_secret = models.CharField(max_length=128, blank=True)
    sequence = models.PositiveIntegerField(null=True, blank=True)
    versions = models.JSONField(default=dict, blank=True)
    client_version = models.CharField(max_length=32, blank=True)
    # The bundle format versions the client reads (clients before format 2 do not say: [1]).
    bundle_formats = models.JSONField(default=list, blank=True)
    use_counts = models.JSONField(default=dict, blank=True)
    access_token = models.ForeignKey(AccessToken, null=True, on_delete=models.SET_NULL, related_name="+")
    last_seen_at = models.DateTimeField()

    class Meta:
        ordering = ["-last_seen_at"]
        constraints = [
            models.UniqueConstraint(fields=["project", "instance_id"], name="live_instance_unique"),
            models.CheckConstraint(condition=models.Q(mode__in=Mode.values), name="live_instance_mode_valid"),
        ]


class DeliveryState(models.TextChoices):
    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"
    SKIPPED = "skipped"


class Delivery(Timestamped):
    """One push of one publication to one LIVE instance. The rows are the delivery queue: ``anvil worker``
    claims the due ones (see fanout.py)."""

    publication = models.ForeignKey(Publication, on_delete=models.CASCADE, related_name="deliveries")
    instance = models.ForeignKey(LiveInstance, on_delete=models.CASCADE, related_name="deliveries")
    state = models.CharField(max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # While PENDING: when it is due (set when it is queued, and after each failed attempt to its backoff).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    # While SENDING: until when the claim holds (a worker killed mid-send leaves it to expire).
    claimed_until = models.DateTimeField(null=True, blank=True)
    # Which claim (one UPDATE by one worker) took it: lets a worker claim a whole batch at once.
    claim = models.UUIDField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["instance__host", "instance__instance_id"]
        constraints = [
            models.UniqueConstraint(fields=["publication", "instance"], name="delivery_unique"),
            models.CheckConstraint(condition=models.Q(state__in=DeliveryState.values), name="delivery_state_valid"),
            # A pending delivery is always due at some time: the claim only takes rows whose time has come.
            models.CheckConstraint(condition=~models.Q(state=DeliveryState.PENDING)
                                   | models.Q(next_attempt_at__isnull=False), name="delivery_pending_is_due"),
        ]
        # What the worker's claim reads (state='pending' AND next_attempt_at <= now, or an expired claim).
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="delivery_queue")]
