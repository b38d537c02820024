# Snapshots keep each image's label and split as they were when taken.
#
# Rows written before this migration held image ids only, and only train-split images:
# their label is filled from the image as it is now (the best that is known) and their
# split is `train`. A training job still queued or running gets the included test-split
# images of now as its test set, so that it can still run.

from django.db import migrations, models
from django.db.models import OuterRef, Subquery

SPLIT_CHOICES = [("train", "Train"), ("test", "Test")]
UNFINISHED = ["queued", "running"]


def current_label(TrainingImage):
    return Subquery(TrainingImage.objects.filter(pk=OuterRef("training_image_id")).values("label"))


def fill_from_current_images(apps, schema_editor):
    TrainingImage = apps.get_model("training", "TrainingImage")
    JobTrainingImage = apps.get_model("training", "JobTrainingImage")
    ModelVersionTrainingImage = apps.get_model("training", "ModelVersionTrainingImage")
    Job = apps.get_model("training", "Job")
    JobTrainingImage.objects.update(label=current_label(TrainingImage), split="train")
    ModelVersionTrainingImage.objects.update(label=current_label(TrainingImage), split="train")
    tests = TrainingImage.objects.filter(split="test", status="included").values_list(
        "id", "label"
    )
    for job in Job.objects.filter(kind="training", status__in=UNFINISHED):
        in_snapshot = set(
            JobTrainingImage.objects.filter(job=job).values_list("training_image_id", flat=True)
        )
        JobTrainingImage.objects.bulk_create(
            (
                JobTrainingImage(job=job, training_image_id=image_id, label=label, split="test")
                for image_id, label in tests.iterator()
                if image_id not in in_snapshot
            ),
            batch_size=1000,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("training", "0005_job_access_key_and_traceback"),
    ]

    operations = [
        migrations.AddField(
            model_name="jobtrainingimage",
            name="label",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="jobtrainingimage",
            name="split",
            field=models.CharField(choices=SPLIT_CHOICES, default="train", max_length=8),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="modelversiontrainingimage",
            name="label",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="modelversiontrainingimage",
            name="split",
            field=models.CharField(choices=SPLIT_CHOICES, default="train", max_length=8),
            preserve_default=False,
        ),
        migrations.RunPython(fill_from_current_images, migrations.RunPython.noop),
    ]
