"""Submit training and evaluation jobs. Runs in the web process (and commands): it
never imports TensorFlow; the jobs run in a training worker (training.retraining)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from jobs.models import Job
from ml_core.config import TrainingConfig
from training.enqueue import run_job_after_commit
from training.models import JobTrainingImage, ModelVersion, TrainingImage

SNAPSHOT_BATCH_SIZE = 1000


@dataclass(frozen=True)
class TrainingRequest:
    """What a training job was asked for. Stored as the job's `parameters` (which the
    API shows): the recipe's knobs beside `auto_promote` and `max_train_images`."""

    config: TrainingConfig = field(default_factory=TrainingConfig)
    auto_promote: bool = False  # promote the new version if it beats production
    max_train_images: int | None = None  # a stratified subset of the train split

    def to_parameters(self) -> dict[str, Any]:
        return {
            **self.config.to_dict(),
            "auto_promote": self.auto_promote,
            "max_train_images": self.max_train_images,
        }

    @classmethod
    def of_job(cls, job: Job) -> TrainingRequest:
        parameters = dict(job.parameters)
        auto_promote = bool(parameters.pop("auto_promote", False))
        max_train_images = parameters.pop("max_train_images", None)
        return cls(TrainingConfig.from_dict(parameters), auto_promote, max_train_images)


def submit_training_job(
    config: TrainingConfig,
    auto_promote: bool = False,
    max_train_images: int | None = None,
    user=None,
    priority: str = Job.Priority.NORMAL,
) -> Job:
    """Snapshot the included images, with their label and split, and queue a job.

    Curation after this moment (relabelling, excluding, moving an image to the
    other split) changes neither what the job trains on nor what it is tested on.
    """
    request = TrainingRequest(config, auto_promote, max_train_images)
    with transaction.atomic():
        job = Job.objects.create(
            kind=Job.Kind.TRAINING,
            total_epochs=config.epochs,
            parameters=request.to_parameters(),
            submitted_by=user,
            celery_task_id=uuid.uuid4().hex,
            message="queued",
            priority=priority,
            sent_at=timezone.now(),
        )
        snapshot = TrainingImage.objects.filter(status=TrainingImage.Status.INCLUDED).values_list(
            "id", "label", "split"
        )
        JobTrainingImage.objects.bulk_create(
            (
                JobTrainingImage(job=job, training_image_id=image_id, label=label, split=split)
                for image_id, label, split in snapshot.iterator()
            ),
            batch_size=SNAPSHOT_BATCH_SIZE,
        )
        job.total = JobTrainingImage.objects.filter(
            job=job, split=TrainingImage.Split.TRAIN
        ).count()
        job.save(update_fields=["total"])
        run_job_after_commit(job)
    return job


def submit_evaluation_job(
    version: ModelVersion, user=None, priority: str = Job.Priority.NORMAL
) -> Job:
    with transaction.atomic():
        job = Job.objects.create(
            kind=Job.Kind.EVALUATION,
            model_version=version,
            submitted_by=user,
            celery_task_id=uuid.uuid4().hex,
            message="queued",
            priority=priority,
            sent_at=timezone.now(),
        )
        run_job_after_commit(job)
    return job
