from rest_framework import serializers

from training.models import Job, ModelVersion


class ModelVersionSerializer(serializers.ModelSerializer):
    accuracy = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = ModelVersion
        fields = [
            "number",
            "status",
            "accuracy",
            "class_names",
            "metrics",
            "validation_metrics",
            "training_parameters",
            "dataset_fingerprint",
            "created_at",
            "promoted_at",
        ]
        read_only_fields = fields


class JobSerializer(serializers.ModelSerializer):
    model_version = serializers.SlugRelatedField(slug_field="number", read_only=True)
    submitted_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

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
            "cancel_requested",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields
