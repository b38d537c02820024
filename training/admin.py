"""Admin for curating training images and inspecting model versions and jobs."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from classifier_site.media import signed_path
from training import jobs
from training.models import (
    LABEL_MAX_LENGTH,
    Job,
    ModelVersion,
    TrainingImage,
    check_label,
    known_labels,
)
from training.tasks import queue_dataset_plots

THUMBNAIL_PIXELS = 48
PREVIEW_PIXELS = 256
INTERMEDIATE_TEMPLATE = "admin/label_form.html"


def image_tag(file, pixels: int, alt: str = "") -> str:
    """A stored image scaled up without smoothing (CIFAR images are 32x32), by a
    signed, expiring URL (the admin's pages are shown to staff only)."""
    if not file:
        return "-"
    return format_html(
        '<img src="{}" width="{}" height="{}" alt="{}" loading="lazy" '
        'style="image-rendering: pixelated; object-fit: contain; background: #fff; '
        'border: 1px solid #ccc">',
        signed_path(file.name),
        pixels,
        pixels,
        alt,
    )


class LabelForm(forms.Form):
    """A class label for the chosen images; a new class must be asked for."""

    label = forms.CharField(
        max_length=LABEL_MAX_LENGTH,
        widget=forms.TextInput(attrs={"list": "known-labels", "autocomplete": "off"}),
    )
    new_class = forms.BooleanField(required=False, label="This is a new class")

    def clean(self):
        data = super().clean()
        if "label" in data:
            try:
                check_label(data["label"], allow_new=data.get("new_class", False))
            except ValidationError as exc:
                if exc.code == "unknown_label":
                    exc = ValidationError(f"{exc.messages[0]} (tick “new class” to add one)")
                self.add_error("label", exc)
        return data


def label_form_page(
    admin_site: admin.AdminSite,
    request: HttpRequest,
    model_admin: admin.ModelAdmin,
    form: forms.Form,
    objects: QuerySet,
    title: str,
    action: str | None,
) -> TemplateResponse:
    """The page between choosing objects and applying an action that needs a label.

    `action` set: the form posts back to the change list with the selection (as
    Django's delete confirmation does). None: it posts to the current URL.
    """
    shown = list(objects[:20])
    return TemplateResponse(
        request,
        INTERMEDIATE_TEMPLATE,
        {
            **admin_site.each_context(request),
            "title": title,
            "opts": model_admin.model._meta,
            "form": form,
            "count": objects.count(),
            "shown": [
                (str(obj), image_tag(obj.image, THUMBNAIL_PIXELS, str(obj))) for obj in shown
            ],
            "action": action,
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "known_labels": known_labels(),
        },
    )


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

        class CheckedLabelForm(form):
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


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    """Jobs are written by workers only: the admin reads them, and may ask one to stop."""

    list_display = [
        "id",
        "kind",
        "status",
        "progress_bar",
        "epochs",
        "items",
        "model_version",
        "submitted_by",
        "created_at",
        "finished_at",
    ]
    list_filter = ["kind", "status"]
    search_fields = ["id", "message", "error", "celery_task_id"]
    list_select_related = ["model_version", "submitted_by"]
    actions = ["cancel"]
    readonly_fields = ["progress_bar", "traceback_text"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # job rows are the history of what ran

    def has_cancel_permission(self, request) -> bool:
        return request.user.has_perm("training.change_job")

    def get_fields(self, request, obj=None):
        hidden = {"traceback", "access_key_hash"}
        fields = [field.name for field in Job._meta.fields if field.name not in hidden]
        return ["progress_bar", *fields, "traceback_text"]

    @admin.display(description="traceback")
    def traceback_text(self, job: Job) -> str:
        """Where a failed job's traceback is shown: never in the API."""
        if not job.traceback:
            return "-"
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', job.traceback)

    @admin.display(description="progress")
    def progress_bar(self, job: Job) -> str:
        return format_html(
            '<progress max="1" value="{}" style="width: 8em"></progress> {}%',
            f"{job.progress:.3f}",
            round(job.progress * 100),
        )

    @admin.display(description="epoch")
    def epochs(self, job: Job) -> str:
        return f"{job.epoch}/{job.total_epochs}" if job.total_epochs else "-"

    @admin.display(description="items")
    def items(self, job: Job) -> str:
        return f"{job.processed}/{job.total}" if job.total else "-"

    @admin.action(description="Cancel the selected jobs", permissions=["cancel"])
    def cancel(self, request: HttpRequest, queryset: QuerySet) -> None:
        running = [job for job in queryset if not job.is_finished]
        for job in running:
            jobs.request_cancel(job)
        self.message_user(
            request,
            f"Asked {len(running)} job(s) to stop; finished jobs are left as they are.",
            messages.SUCCESS,
        )
