"""The correction loop: a prediction's stored image becomes a training image."""

from __future__ import annotations

from django.db.models import QuerySet

from training.imports import ImportSummary, import_uploads
from training.models import TrainingImage


def add_to_training_set(
    predictions: QuerySet, label: str, split: str, *, allow_new: bool
) -> tuple[ImportSummary, dict]:
    """Each prediction's stored image as a training image (source `prediction`).

    The label must name a known class unless `allow_new` (ValidationError).
    Idempotent by content (sha256): an image already in the training set is left as
    it is; its current label is returned so the curator can relabel it instead.
    """
    files, identities = [], []
    for prediction in predictions:
        with prediction.image.open("rb") as handle:
            files.append((prediction.original_name or prediction.image.name, handle.read()))
        identities.append(prediction.image_sha256)  # the upload's, not the stored copy's
    summary = import_uploads(
        files,
        label,
        split,
        source=TrainingImage.Source.PREDICTION,
        identities=identities,
        allow_new=allow_new,
    )
    hashes = set(identities)
    existing = TrainingImage.objects.filter(sha256__in=hashes).exclude(label=label)
    return summary, dict(existing.values_list("sha256", "label"))
