"""What `make run` does once per start, after Redis answers and before the scheduler:
import the dataset if present and queue a first training job when no model exists.

Every step is idempotent, so starting the service again repeats nothing.
"""

import time
from pathlib import Path
from urllib.parse import urlsplit

import redis
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs.models import Job
from ml_core.config import TrainingConfig
from training.models import ModelVersion, TrainingImage
from training.submit import submit_training_job


class Command(BaseCommand):
    help = (
        "Prepare a started service: wait for Redis, import the dataset if present and, "
        "when no model version exists, queue a first training job that promotes its model."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--archive",
            help="dataset to import if it exists (default: the CIFAR_ARCHIVE setting)",
        )
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="for messages")
        parser.add_argument("--redis-timeout", type=float, default=30.0, help="seconds")
        parser.add_argument(
            "--no-training", action="store_true", help="never queue a first training job"
        )

    def handle(self, *args, **options) -> None:
        wait_for_redis(settings.REDIS_URL, options["redis_timeout"])
        archive = Path(options["archive"] or settings.CIFAR_ARCHIVE)
        self.import_dataset(archive)
        if not options["no_training"]:
            self.queue_first_training(options["base_url"].rstrip("/"))

    def import_dataset(self, archive: Path) -> None:
        if archive.exists():
            call_command("import_cifar", str(archive), stdout=self.stdout, stderr=self.stderr)
            return
        self.stdout.write(
            f"No dataset at {archive}: put the CIFAR-10 python archive there, set "
            "CIFAR_ARCHIVE, or run `manage.py import_cifar --download`."
        )

    def queue_first_training(self, base_url: str) -> None:
        if ModelVersion.objects.exists():
            return
        active = Job.objects.filter(
            kind=Job.Kind.TRAINING, status__in=[Job.Status.QUEUED, Job.Status.RUNNING]
        ).first()
        if active is not None:
            self.stdout.write(f"Training job {active.pk} is {active.status}; see {base_url}/")
            return
        included = TrainingImage.objects.filter(
            split=TrainingImage.Split.TRAIN, status=TrainingImage.Status.INCLUDED
        )
        if not included.exists():
            self.stdout.write("No model yet and no training images: import a dataset first.")
            return
        config = TrainingConfig()
        job = submit_training_job(config, auto_promote=True)
        self.stdout.write(
            self.style.SUCCESS(
                f"No model yet: queued training job {job.pk} ({config.epochs} epochs on "
                f"{job.total} images; its model is promoted when it finishes). Follow it at "
                f"{base_url}/ or {base_url}/api/v1/training-jobs/{job.pk}/"
            )
        )


def wait_for_redis(url: str, timeout: float) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.ping()
            return
        except redis.RedisError as exc:
            if time.monotonic() > deadline:
                raise CommandError(
                    f"no Redis answered at {without_password(url)} within {timeout:g} s: {exc}"
                ) from exc
            time.sleep(0.2)


def without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()
