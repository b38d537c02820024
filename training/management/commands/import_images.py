from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from ml_core.datasets import ClassFolderReader, DatasetError
from training.enqueue import queue_dataset_plots
from training.imports import import_class_folder
from training.models import TrainingImage

SHOWN_REJECTIONS = 20


class Command(BaseCommand):
    help = (
        "Import a folder or .zip of class sub-folders (cat/1.png, dog/2.jpg, ...) as "
        "training images; the folder name is the label. Idempotent by content."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="folder or .zip of class sub-folders")
        parser.add_argument(
            "--split",
            choices=TrainingImage.Split.values,
            default=TrainingImage.Split.TRAIN,
            help="split the images join (default: train)",
        )
        parser.add_argument(
            "--new-class",
            action="store_true",
            help="allow folders naming classes the training set does not have yet "
            "(without it, such an import is refused: a misspelt folder must not start a class)",
        )

    def handle(self, *args, path: str, split: str, new_class: bool, **options) -> None:
        try:
            with ClassFolderReader(path) as reader:
                self.stdout.write(
                    f"Found {len(reader)} files in {len(reader.labels)} class folders: "
                    f"{', '.join(reader.labels)}."
                )
                with tqdm(total=len(reader), unit="img", desc="Importing", mininterval=0.5) as bar:
                    summary = import_class_folder(
                        reader, split, allow_new=new_class, on_progress=bar.update
                    )
        except DatasetError as exc:
            raise CommandError(str(exc)) from exc
        except ValidationError as exc:  # unknown classes: nothing was imported
            raise CommandError(f"{exc.messages[0]}; pass --new-class to add them") from exc
        if summary.created_in_split("train"):
            queue_dataset_plots()
        for rejection in summary.rejected[:SHOWN_REJECTIONS]:
            self.stderr.write(f"rejected {rejection}")
        if len(summary.rejected) > SHOWN_REJECTIONS:
            self.stderr.write(f"... and {len(summary.rejected) - SHOWN_REJECTIONS} more rejected")
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {summary.created_total} new images into the {split} split; "
                f"{summary.already_present} already present; "
                f"{len(summary.rejected)} rejected."
            )
        )
