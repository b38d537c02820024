from __future__ import annotations

from django.conf import settings
from django.db import models


class Job(models.Model):
    """A long-running piece of work, run by Celery workers; the database row is the
    source of truth for its state and progress (not Celery's result backend).

    Every state change goes through jobs.lifecycle. The apps that run a kind of job
    (training, predictions) say how a lost one is queued again (jobs.recovery)."""

    class Kind(models.TextChoices):
        BATCH_INFERENCE = "batch_inference", "Batch inference"
        TRAINING = "training", "Training"
        EVALUATION = "evaluation", "Evaluation"

    class Status(models.TextChoices):
        # A batch job still receiving its images over several requests: no task runs
        # for it, recovery never picks it, and it expires if left untouched.
        DRAFT = "draft", "Draft"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Priority(models.TextChoices):
        LOW = "low", "Low"
        NORMAL = "normal", "Normal"
        HIGH = "high", "High"

    TERMINAL = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELLED})
    # The order chunks are dispatched in (jobs.scheduling): a higher rank first.
    PRIORITY_RANK: dict[str, int] = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2}

    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0, help_text="0 to 1; never decreases.")
    processed = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    epoch = models.PositiveIntegerField(default=0)
    total_epochs = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True, help_text="Latest metrics.")
    history = models.JSONField(default=list, blank=True, help_text="Metrics per epoch.")
    result = models.JSONField(default=dict, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    message = models.CharField(max_length=200, blank=True)
    error = models.TextField(
        blank=True, help_text="Short: the exception's class and message, without paths."
    )
    traceback = models.TextField(
        blank=True, editable=False, help_text="For administrators only; never in the API."
    )
    # A reference by name: the model registry is training's (see docs/architecture.md).
    model_version = models.ForeignKey(
        "training.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="jobs",
        help_text="Batch inference: the version predicting. Evaluation: the version "
        "evaluated. Training: the version created.",
    )
    # The submitter sees the job; None is an anonymous caller's job (followed with its
    # access key) or a deleted user's: either way staff only, never public.
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    # sha256 of an anonymous batch job's access key (the key is shown once, at submit).
    access_key_hash = models.CharField(max_length=64, blank=True, editable=False)
    priority = models.CharField(
        max_length=6,
        choices=Priority.choices,
        default=Priority.NORMAL,
        help_text="Chunks of a higher priority are dispatched first; only staff set high.",
    )
    # An anonymous submitter's client address, as a keyed hash (jobs.quotas): their
    # quotas count their unfinished jobs by it. Blank for a signed-in submitter's.
    client_key = models.CharField(max_length=64, blank=True, editable=False, db_index=True)
    # When retention cleared a finished batch job's inputs (predictions.retention).
    inputs_purged_at = models.DateTimeField(null=True, blank=True, editable=False)
    cancel_requested = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    celery_task_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # When its task was last sent to Redis: a queued job whose task is older than
    # JOB_RESEND_AFTER_SECONDS is sent again (Redis may have lost it).
    sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    # When a chunk of it was last dispatched: round-robin serves the oldest first.
    served_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        db_table = "training_job"  # the table it had in the training app
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "heartbeat_at"], name="training_jo_status_0e0373_idx")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} job {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.TERMINAL


class JobChunk(models.Model):
    """A run of positions [start, stop) of a job made of chunks (batch inference),
    each a task of its own. The row, not the Redis message, says where the chunk is:
    jobs.scheduling dispatches pending chunks (a bounded number in flight per job,
    per user and overall), the chunk's task claims it (a duplicate message finds it
    claimed or done and does nothing), and the recovery sweep sends a lost one again.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"  # waiting for a dispatch slot
        DISPATCHED = "dispatched", "Dispatched"  # its task is in Redis
        CLAIMED = "claimed", "Claimed"  # a worker runs it
        DONE = "done", "Done"

    IN_FLIGHT = (State.DISPATCHED, State.CLAIMED)

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="chunks")
    start = models.PositiveIntegerField()
    stop = models.PositiveIntegerField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Claims so far.")
    dispatched_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job", "start"]
        constraints = [models.UniqueConstraint(fields=["job", "start"], name="unique_chunk_start")]
        indexes = [models.Index(fields=["state", "job"], name="jobs_chunk_state_job_idx")]

    def __str__(self) -> str:
        return f"job {self.job_id} [{self.start}, {self.stop}) {self.state}"
