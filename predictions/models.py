from __future__ import annotations

from django.db import models

from training.models import LABEL_MAX_LENGTH, ModelVersion


class Prediction(models.Model):
    class Source(models.TextChoices):
        API = "api", "API"
        DASHBOARD = "dashboard", "Dashboard"
        BATCH = "batch", "Batch job"
        COMMAND = "command", "Command line"

    image = models.FileField(max_length=255)
    image_sha256 = models.CharField(max_length=64, db_index=True)
    original_name = models.CharField(max_length=255, blank=True)
    top_label = models.CharField(max_length=LABEL_MAX_LENGTH, db_index=True)
    confidence = models.FloatField(db_index=True)
    probabilities = models.JSONField(help_text="Probability of every class, by class name.")
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="predictions"
    )
    source = models.CharField(max_length=16, choices=Source.choices)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.top_label} {self.confidence:.0%} (v{self.model_version.number})"
