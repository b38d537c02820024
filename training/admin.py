"""Admin for curating training images and inspecting model versions."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from classifier_site.admin_widgets import PREVIEW_PIXELS, THUMBNAIL_PIXELS, image_tag
from training.enqueue import queue_dataset_plots
from training.forms import LabelForm, label_form_page
from training.models import ModelVersion, TrainingImage, check_label


@admin.register(TrainingImage)
class TrainingImageAdmin(admin.ModelAdmin):
    list_display = [
        "thumbnail",
        "id",
        "label",
        "split",
        "status",
        "source",
        "original_name",
        "created_at",
    ]
    list_display_links = ["thumbnail", "id"]
    list_filter = ["label", "split", "status", "source"]
    search_fields = ["label", "sha256", "original_name"]
    readonly_fields = ["preview", "sha256", "source", "original_name", "created_at"]
    fields = [
        "preview",
        "label",
        "split",
        "status",
        "source",
        "original_name",
        "sha256",
        "created_at",
    ]
    # Not `include`/`exclude`: ModelAdmin.exclude is a form option.
    actions = [
        "relabel",
        "include_in_training",
        "exclude_from_training",
        "move_to_train",
        "move_to_test",
    ]
    list_per_page = 100

    @admin.display(description="image")
    def thumbnail(self, image: TrainingImage) -> str:
        return image_tag(image.image, THUMBNAIL_PIXELS, image.label)

    @admin.display(description="image")
    def preview(self, image: TrainingImage) -> str:
        return image_tag(image.image, PREVIEW_PIXELS, image.label)

    def get_form(self, request, obj=None, change=False, **kwargs):
        # The label must name a known class here too (a new class: the bulk action).
        form = super().get_form(request, obj, change, **kwargs)

        class CheckedLabelForm(form):  # type: ignore[misc, valid-type]  # a class made at run time
            def clean_label(self):
                label = self.cleaned_data["label"]
                check_label(label, allow_new=False)
                return label

        return CheckedLabelForm

    @admin.action(description="Relabel selected images…", permissions=["change"])
    def relabel(self, request: HttpRequest, queryset: QuerySet):
        form = LabelForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            label = form.cleaned_data["label"]
            changed = queryset.exclude(label=label).update(label=label)
            if changed:
                queue_dataset_plots()  # the class distribution and samples changed
            self.message_user(
                request, f"Relabelled {changed} image(s) as “{label}”.", messages.SUCCESS
            )
            return None
        return label_form_page(
            self.admin_site, request, self, form, queryset, "Relabel training images", "relabel"
        )

    def _update(self, request: HttpRequest, queryset: QuerySet, what: str, **values) -> None:
        changed = queryset.exclude(**values).update(**values)
        if changed:
            queue_dataset_plots()  # one redraw per bulk action, not per image
        self.message_user(request, f"{changed} image(s) {what}.", messages.SUCCESS)

    @admin.action(description="Include selected images in training", permissions=["change"])
    def include_in_training(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._update(request, queryset, "included", status=TrainingImage.Status.INCLUDED)

    @admin.action(description="Exclude selected images from training", permissions=["change"])
    def exclude_from_training(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._update(request, queryset, "excluded", status=TrainingImage.Status.EXCLUDED)

    @admin.action(description="Move selected images to the train split", permissions=["change"])
    def move_to_train(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._update(request, queryset, "moved to train", split=TrainingImage.Split.TRAIN)

    @admin.action(description="Move selected images to the test split", permissions=["change"])
    def move_to_test(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._update(request, queryset, "moved to test", split=TrainingImage.Split.TEST)


def _metric(value) -> str:
    return "-" if value is None else f"{value:.4f}"


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = [
        "number",
        "status",
        "test_accuracy",
        "macro_f1",
        "roc_auc",
        "validation_accuracy",
        "created_at",
        "promoted_at",
    ]
    list_filter = ["status"]
    actions = ["promote"]
    readonly_fields = [
        "number",
        "status",
        "evaluation_page",
        "summary",
        "per_class",
        "confusion_matrix",
        "artifact_path",
        "class_names",
        "training_parameters",
        "dataset_fingerprint",
        "created_at",
        "promoted_at",
        "metrics",
        "validation_metrics",
        "training_history",
    ]
    fieldsets = [
        (None, {"fields": ["number", "status", "evaluation_page", "created_at", "promoted_at"]}),
        ("Test-split metrics", {"fields": ["summary", "per_class", "confusion_matrix"]}),
        (
            "Training",
            {
                "fields": [
                    "class_names",
                    "training_parameters",
                    "dataset_fingerprint",
                    "artifact_path",
                ]
            },
        ),
        (
            "Raw data",
            {
                "classes": ["collapse"],
                "fields": ["metrics", "validation_metrics", "training_history"],
            },
        ),
    ]

    def has_add_permission(self, request) -> bool:
        return False  # versions come from training, never from a form

    def has_change_permission(self, request, obj=None) -> bool:
        # A version's page is read-only (versions are immutable); the change
        # permission is what the promote action needs on the list.
        return obj is None and super().has_change_permission(request)

    @admin.display(description="test accuracy")
    def test_accuracy(self, version: ModelVersion) -> str:
        return _metric(version.metrics.get("accuracy"))

    @admin.display(description="macro F1")
    def macro_f1(self, version: ModelVersion) -> str:
        return _metric(version.metrics.get("f1_macro"))

    @admin.display(description="ROC-AUC")
    def roc_auc(self, version: ModelVersion) -> str:
        return _metric(version.metrics.get("roc_auc_ovr_macro"))

    @admin.display(description="validation accuracy")
    def validation_accuracy(self, version: ModelVersion) -> str:
        return _metric(version.validation_metrics.get("accuracy"))

    @admin.display(description="dashboard")
    def evaluation_page(self, version: ModelVersion) -> str:
        url = reverse("dashboard:model-version", args=[version.number])
        return format_html('<a href="{}">evaluation page with plots</a>', url)

    @admin.display(description="summary")
    def summary(self, version: ModelVersion) -> str:
        metrics = version.metrics
        rows = [
            ("accuracy", metrics.get("accuracy")),
            ("macro precision", metrics.get("precision_macro")),
            ("macro recall", metrics.get("recall_macro")),
            ("macro F1", metrics.get("f1_macro")),
            ("ROC-AUC (one-vs-rest, macro)", metrics.get("roc_auc_ovr_macro")),
        ]
        return format_html(
            "<table>{}<tr><th>test images</th><td>{}</td></tr></table>",
            format_html_join(
                "", "<tr><th>{}</th><td>{}</td></tr>", ((n, _metric(v)) for n, v in rows)
            ),
            metrics.get("count", "-"),
        )

    @admin.display(description="per class")
    def per_class(self, version: ModelVersion) -> str:
        per_class = version.metrics.get("per_class") or {}
        if not per_class:
            return "-"
        return format_html(
            "<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th>"
            "<th>ROC-AUC</th><th>support</th></tr>{}</table>",
            format_html_join(
                "",
                "<tr><th>{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (
                        name,
                        _metric(row.get("precision")),
                        _metric(row.get("recall")),
                        _metric(row.get("f1")),
                        _metric(row.get("roc_auc")),
                        row.get("support", "-"),
                    )
                    for name, row in per_class.items()
                ),
            ),
        )

    @admin.display(description="confusion matrix (rows: true class)")
    def confusion_matrix(self, version: ModelVersion) -> str:
        names = version.metrics.get("class_names") or []
        matrix = version.metrics.get("confusion_matrix") or []
        if not matrix:
            return "-"
        header = format_html_join("", "<th>{}</th>", ((name,) for name in names))
        rows = format_html_join(
            "",
            "<tr><th>{}</th>{}</tr>",
            (
                (name, format_html_join("", "<td>{}</td>", ((count,) for count in counts)))
                for name, counts in zip(names, matrix, strict=False)
            ),
        )
        return format_html("<table><tr><th></th>{}</tr>{}</table>", header, rows)

    @admin.action(description="Promote the selected version to production", permissions=["change"])
    def promote(self, request: HttpRequest, queryset: QuerySet) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Choose exactly one version to promote.", messages.ERROR)
            return
        version = queryset.get()
        version.promote(user=request.user)
        self.message_user(request, f"Version {version.number} is now in production.")
