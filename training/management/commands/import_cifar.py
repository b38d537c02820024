from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from ml_core.datasets import DatasetError, download_cifar, load_cifar
from training.enqueue import queue_dataset_plots
from training.imports import import_cifar_dataset


class Command(BaseCommand):
    help = (
        "Import a CIFAR-10 python archive (.tar.gz or extracted folder) as training "
        "images. Idempotent: images already stored (same content) are skipped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "path",
            nargs="?",
            help="archive or folder (default: the CIFAR_ARCHIVE setting, "
            "data/cifar-10-python.tar.gz)",
        )
        parser.add_argument(
            "--download",
            action="store_true",
            help="download the official archive to PATH first if it is not there "
            "(verifies its md5)",
        )

    def handle(self, *args, path: str | None, download: bool, **options) -> None:
        archive = path or str(settings.CIFAR_ARCHIVE)
        try:
            if download:
                download_cifar(archive)
            dataset = load_cifar(archive)
        except DatasetError as exc:
            raise CommandError(str(exc)) from exc
        total = len(dataset.train) + len(dataset.test)
        self.stdout.write(
            f"Read {archive}: {len(dataset.train)} train and {len(dataset.test)} test images "
            f"in {len(dataset.class_names)} classes ({dataset.train_batch_count} train batches)."
        )
        with tqdm(total=total, unit="img", desc="Importing", mininterval=0.5) as progress:
            summary = import_cifar_dataset(dataset, on_progress=progress.update)
        if summary.created_in_split("train"):
            queue_dataset_plots()
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {summary.created_total} new images "
                f"({summary.created_in_split('train')} train, "
                f"{summary.created_in_split('test')} test); "
                f"{summary.already_present} already present."
            )
        )
