from __future__ import annotations

from typing import Any

from rest_framework import serializers

from classifier_site.api import StrictSerializer
from jobs.models import Job


def priority_field() -> serializers.ChoiceField:
    return serializers.ChoiceField(
        choices=Job.Priority.choices,
        default=Job.Priority.NORMAL,
        help_text="Which jobs' work goes first: low, normal or high (high: staff only).",
    )


class PrioritySerializer(StrictSerializer):
    """The body of `POST .../{id}/priority/`."""

    priority = priority_field()


class JobSerializer(serializers.ModelSerializer):
    """A job as its viewers see it; `error` is short (the traceback stays in the
    admin), and the submitter's name is shown to staff only (null to others)."""

    # Any: the jobs app may not import training's ModelVersion (tests/test_import_graph.py)
    model_version: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="number",
        read_only=True,
        allow_null=True,
        help_text="The number of the version it predicts with (batch inference), "
        "evaluates (evaluation) or created (training); null until there is one.",
    )
    submitted_by = serializers.SerializerMethodField(
        help_text="The submitter's username, shown to staff only; null to others."
    )

    class Meta:
        model = Job
        fields = [
            "id",
            "kind",
            "status",
            "progress",
            "processed",
            "total",
            "epoch",
            "total_epochs",
            "metrics",
            "history",
            "message",
            "error",
            "parameters",
            "model_version",
            "submitted_by",
            "priority",
            "cancel_requested",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_submitted_by(self, job: Job) -> str | None:
        request = self.context.get("request")
        if job.submitted_by is None or request is None or not request.user.is_staff:
            return None
        return job.submitted_by.username
