"""Submit every image under a folder on the server as one batch job."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from jobs.models import Job
from predictions import batch, drafts
from training.models import ModelVersion

SHOWN_SKIPPED = 20


def image_files(folder: Path) -> Iterator[Path]:
    """Every file under `folder`, in a stable order; hidden files and folders skipped."""
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and not any(part.startswith(".") for part in relative.parts):
            yield path


class Command(BaseCommand):
    help = (
        "Submit every image under PATH (any folder layout) as one batch job: a draft, "
        "appended to a part at a time (so the images are never all in memory), then "
        "started. Prints the job's id; files that are not images are skipped and listed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="a folder on this server")
        parser.add_argument(
            "--user", help="the username the job belongs to (default: nobody; staff see it)"
        )
        parser.add_argument(
            "--part-size",
            type=int,
            default=None,
            help="images decoded and stored per step (default: BATCH_JOB_CHUNK_SIZE)",
        )
        parser.add_argument(
            "--priority",
            choices=Job.Priority.values,
            default=Job.Priority.NORMAL,
            # The command runs as the server's operator: high needs no staff check.
            help="the job's priority among batch jobs (jobs.scheduling; default normal)",
        )

    def handle(
        self,
        *args,
        path: Path,
        user: str | None,
        part_size: int | None,
        priority: str = Job.Priority.NORMAL,
        **options,
    ):
        if not path.is_dir():
            raise CommandError(f"{path} is not a folder")
        owner = self._user(user)
        files = list(image_files(path))  # the paths only: the images are read per part
        limit = settings.BATCH_JOB_MAX_IMAGES
        if not files:
            raise CommandError(f"{path} holds no files")
        if len(files) > limit:
            raise CommandError(
                f"{path} holds {len(files):,} files; a job takes at most {limit:,} "
                "(BATCH_JOB_MAX_IMAGES)"
            )
        if ModelVersion.production() is None:
            raise CommandError("no model version is in production yet")
        access_key = None if owner else batch.new_access_key()
        job = drafts.create_draft(user=owner, access_key=access_key, priority=priority)
        try:
            skipped = self._append_all(job, path, files, part_size or settings.BATCH_JOB_CHUNK_SIZE)
            job.refresh_from_db()
            if job.total == 0:
                raise CommandError(f"none of the {len(files):,} files under {path} is an image")
            job = drafts.start_draft(job)
        except BaseException:
            batch.delete_draft(job)  # an interrupted or refused submit leaves nothing
            raise
        for problem in skipped[:SHOWN_SKIPPED]:
            self.stderr.write(f"skipped {problem}")
        if len(skipped) > SHOWN_SKIPPED:
            self.stderr.write(f"... and {len(skipped) - SHOWN_SKIPPED} more skipped")
        self.stdout.write(
            self.style.SUCCESS(
                f"Batch job {job.pk} started: {job.total:,} images, {len(skipped):,} skipped "
                f"(priority {job.priority})."
            )
        )
        if access_key:
            self.stdout.write(f"Its access key (send as X-Job-Key to follow it): {access_key}")
        self.stdout.write(str(job.pk))

    def _user(self, username: str | None):
        if username is None:
            return None
        try:
            return get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist as exc:
            raise CommandError(f"no user is called {username!r}") from exc

    def _append_all(self, job, folder: Path, files: list[Path], size: int) -> list[str]:
        """Append the files a part at a time; a part with a file that is not an image
        is appended again file by file, skipping those. Returns the skipped files."""
        skipped: list[str] = []
        with tqdm(total=len(files), unit="img", desc="Storing", mininterval=0.5) as bar:
            for index, first in enumerate(range(0, len(files), size)):
                part = [_upload(folder, path) for path in files[first : first + size]]
                try:
                    drafts.append_to_draft(job, part, f"{index}")
                except batch.InvalidBatch:
                    for number, image in enumerate(part):
                        try:
                            drafts.append_to_draft(job, [image], f"{index}.{number}")
                        except batch.InvalidBatch as exc:
                            skipped.extend(exc.errors)
                bar.update(len(part))
        return skipped


def _upload(folder: Path, path: Path) -> batch.UploadedImage:
    """The file's path under the folder is its name; its bytes are read when decoded."""
    return batch.UploadedImage(str(path.relative_to(folder)), path.read_bytes)
