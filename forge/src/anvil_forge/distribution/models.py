from django.conf import settings
from django.db import models

from anvil_forge.core.ids import uuid7
from anvil_forge.core.models import Timestamped


class Channel(Timestamped):
    """A named stream of releases of a project (``production`` always exists): its own sequence, its own
    signed bundle. Access tokens are bound to one, so a LIVE client follows one (docs/distribution.md)."""

    project = models.ForeignKey("prompts.Project", on_delete=models.CASCADE, related_name="channels")
    name = models.CharField(max_length=64)
    description = models.CharField(max_length=200, blank=True)
    # A publish or promote to it waits for a second owner or admin to approve it (a PublishRequest).
    requires_approval = models.BooleanField(default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["project", "name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="channel_name_unique")]

    def __str__(self):
        return self.name


class AccessToken(Timestamped):
    """A project-level secret LIVE clients use to pull, stream and register, bound to one channel. Only its
    hash is stored."""

    project = models.ForeignKey("prompts.Project", on_delete=models.CASCADE, related_name="access_tokens")
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="access_tokens")
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
    """Which version of a prompt set a channel's newest release holds (one row per channel and published set)."""

    project = models.ForeignKey("prompts.Project", on_delete=models.CASCADE, related_name="published_versions")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="published_versions")
    prompt_set = models.ForeignKey("prompts.PromptSet", on_delete=models.PROTECT, related_name="published")
    version = models.ForeignKey("prompts.Version", on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["prompt_set__slug"]
        constraints = [models.UniqueConstraint(fields=["channel", "prompt_set"], name="published_version_unique")]


class ReleaseKind(models.TextChoices):
    PUBLISH = "publish"    # one set's approved version
    PROMOTE = "promote"    # every set version another channel held
    ROLLBACK = "rollback"  # the content of an earlier release, again


class Publication(models.Model):
    """One release of a channel: the channel's sequence rises by one each time; the newest row is its current
    state. ``content`` is the whole release (prompt set id → version id), so any release can be rebuilt.

    A release may go to part of the channel first (a staged rollout): to the instances named in
    ``instance_ids``, and to those matching every one of ``labels`` whose stable hash falls within
    ``percentage``; the others keep ``previous`` (docs/distribution.md#staged-rollouts)."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    project = models.ForeignKey("prompts.Project", on_delete=models.CASCADE, related_name="publications")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="publications")
    sequence = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=ReleaseKind.choices, default=ReleaseKind.PUBLISH)
    # What a publish changed (none for a promote or a roll back, which may change several sets).
    prompt_set = models.ForeignKey("prompts.PromptSet", null=True, on_delete=models.PROTECT, related_name="+")
    version = models.ForeignKey("prompts.Version", null=True, on_delete=models.PROTECT, related_name="+")
    content = models.JSONField(default=dict)
    source_channel = models.CharField(max_length=64, blank=True)  # a promote's source
    restores_sequence = models.PositiveIntegerField(null=True, blank=True)  # a roll back's
    percentage = models.PositiveSmallIntegerField(default=100)
    labels = models.JSONField(default=dict, blank=True)
    instance_ids = models.JSONField(default=list, blank=True)
    previous = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["channel", "-sequence"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "sequence"], name="publication_channel_sequence_unique"),
            models.CheckConstraint(condition=models.Q(sequence__gte=1), name="publication_sequence_positive"),
            models.CheckConstraint(condition=models.Q(percentage__lte=100), name="publication_percentage_valid"),
            models.CheckConstraint(condition=models.Q(kind__in=ReleaseKind.values), name="publication_kind_valid"),
        ]

    @property
    def everyone(self) -> bool:
        """Whether every instance of the channel is in its cohort (no rollout, or one expanded to all)."""
        return self.previous_id is None or (self.percentage == 100 and not self.labels)


class RequestState(models.TextChoices):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class PublishRequest(Timestamped):
    """A publish or promote to a channel that requires approval, waiting for an owner or admin other than
    the requester. ``content`` is fixed when it is asked (a promote's source may move on meanwhile)."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    project = models.ForeignKey("prompts.Project", on_delete=models.CASCADE, related_name="publish_requests")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="publish_requests")
    kind = models.CharField(max_length=10, choices=ReleaseKind.choices)
    prompt_set = models.ForeignKey("prompts.PromptSet", null=True, on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey("prompts.Version", null=True, on_delete=models.CASCADE, related_name="+")
    source_channel = models.CharField(max_length=64, blank=True)
    content = models.JSONField(default=dict, blank=True)  # a promote's: what the source held when asked
    rollout = models.JSONField(default=dict, blank=True)  # {percentage, labels, instance_ids}
    state = models.CharField(max_length=10, choices=RequestState.choices, default=RequestState.PENDING)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                     related_name="+")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()
    publication = models.ForeignKey(Publication, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(state__in=RequestState.values), name="publish_request_state_valid"),
            models.CheckConstraint(condition=models.Q(kind__in=ReleaseKind.values), name="publish_request_kind_valid"),
        ]


class Announcement(models.Model):
    """A release announced on SQLite, for the event streams of the other FORGE processes (events.py: on
    PostgreSQL, NOTIFY carries it). Kept for minutes."""

    id = models.BigAutoField(primary_key=True)
    origin = models.CharField(max_length=32)  # the announcing process (its own poller skips it)
    message = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)


class Mode(models.TextChoices):
    ACCEPTING = "accepting"
    FROZEN = "frozen"


class LiveInstance(Timestamped):
    """A running LIVE client, as it last reported itself (register / heartbeat with an access token)."""

    project = models.ForeignKey("prompts.Project", on_delete=models.CASCADE, related_name="live_instances")
    # The channel of the token it registered with (it follows that channel's releases).
    channel = models.ForeignKey(Channel, null=True, on_delete=models.SET_NULL, related_name="live_instances")
    instance_id = models.CharField(max_length=64)
    labels = models.JSONField(default=dict, blank=True)  # what the client declares, for rollout targeting
    last_error = models.CharField(max_length=500, blank=True)  # the client's last sync error, as it reported it
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
