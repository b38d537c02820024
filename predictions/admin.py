from django.contrib import admin

from predictions.models import Prediction


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin):
    list_display = ["id", "top_label", "confidence", "model_version", "source", "created_at"]
    list_filter = ["top_label", "source", "model_version"]
    search_fields = ["top_label", "image_sha256", "original_name"]
    readonly_fields = [field.name for field in Prediction._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
