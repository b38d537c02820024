from django.contrib import admin

from training.models import ModelVersion, TrainingImage


@admin.register(TrainingImage)
class TrainingImageAdmin(admin.ModelAdmin):
    list_display = ["id", "label", "split", "status", "source", "original_name", "created_at"]
    list_filter = ["label", "split", "status", "source"]
    search_fields = ["label", "sha256", "original_name"]
    readonly_fields = ["image", "sha256", "source", "original_name", "created_at"]


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["number", "status", "accuracy", "created_at", "promoted_at"]
    list_filter = ["status"]
    readonly_fields = [
        "number",
        "artifact_path",
        "status",
        "class_names",
        "metrics",
        "validation_metrics",
        "training_parameters",
        "training_history",
        "dataset_fingerprint",
        "created_at",
        "promoted_at",
    ]

    def has_add_permission(self, request) -> bool:
        return False  # versions come from training, never from a form
