"""Read-only prediction history, and the correction loop: a wrong prediction's
image becomes a training image with the right label."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.html import format_html

from classifier_site.admin_widgets import PREVIEW_PIXELS, THUMBNAIL_PIXELS, image_tag
from predictions.corrections import add_to_training_set
from predictions.models import Prediction
from training.forms import LabelForm, label_form_page
from training.models import TrainingImage


class TrainingLabelForm(LabelForm):
    split = forms.ChoiceField(
        choices=TrainingImage.Split.choices,
        initial=TrainingImage.Split.TRAIN,
        help_text="Train: learned from by the next model. Test: held out to measure it.",
    )


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin):
    list_display = [
        "thumbnail",
        "id",
        "top_label",
        "confidence",
        "model_version",
        "source",
        "created_at",
    ]
    list_display_links = ["thumbnail", "id"]
    list_filter = ["top_label", "source", "model_version"]
    search_fields = ["top_label", "image_sha256", "original_name"]
    fields = readonly_fields = (
        "preview",
        "correct_it",
        *(field.name for field in Prediction._meta.fields if field.name != "image"),
    )
    actions = ["add_to_training"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_add_to_training_permission(self, request) -> bool:
        return request.user.has_perm("training.add_trainingimage")

    @admin.display(description="image")
    def thumbnail(self, prediction: Prediction) -> str:
        return image_tag(prediction.image, THUMBNAIL_PIXELS, prediction.top_label)

    @admin.display(description="image")
    def preview(self, prediction: Prediction) -> str:
        return image_tag(prediction.image, PREVIEW_PIXELS, prediction.top_label)

    @admin.display(description="correct it")
    def correct_it(self, prediction: Prediction) -> str:
        url = reverse("admin:predictions_prediction_add_to_training", args=[prediction.pk])
        return format_html('<a class="button" href="{}">Add to training set with label…</a>', url)

    def get_urls(self):
        return [
            path(
                "<int:pk>/add-to-training/",
                self.admin_site.admin_view(self.add_one_to_training),
                name="predictions_prediction_add_to_training",
            ),
            *super().get_urls(),
        ]

    def _apply(self, request: HttpRequest, predictions: QuerySet, form: TrainingLabelForm) -> None:
        label, split = form.cleaned_data["label"], form.cleaned_data["split"]
        summary, other_labels = add_to_training_set(
            predictions, label, split, allow_new=form.cleaned_data["new_class"]
        )
        self.message_user(
            request,
            f"Added {summary.created_total} image(s) to the {split} split as “{label}”; "
            f"{summary.already_present} already in the training set.",
            messages.SUCCESS,
        )
        if other_labels:
            self.message_user(
                request,
                f"{len(other_labels)} of them already have another label "
                f"({', '.join(sorted(set(other_labels.values())))}); relabel them under "
                "Training images if that label is wrong.",
                messages.WARNING,
            )
        for rejected in summary.rejected:
            self.message_user(request, f"Not added: {rejected}", messages.ERROR)

    @admin.action(description="Add to training set with label…", permissions=["add_to_training"])
    def add_to_training(self, request: HttpRequest, queryset: QuerySet):
        form = TrainingLabelForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            self._apply(request, queryset, form)
            return None
        return label_form_page(
            self.admin_site,
            request,
            self,
            form,
            queryset,
            "Add to the training set",
            "add_to_training",
        )

    def add_one_to_training(self, request: HttpRequest, pk: int):
        if not self.has_add_to_training_permission(request):
            raise PermissionDenied
        predictions = Prediction.objects.filter(pk=pk)
        prediction = get_object_or_404(predictions)
        initial = {"label": prediction.top_label}
        form = TrainingLabelForm(
            request.POST if request.method == "POST" else None, initial=initial
        )
        if form.is_valid():
            self._apply(request, predictions, form)
            return redirect("admin:predictions_prediction_change", pk)
        return label_form_page(
            self.admin_site, request, self, form, predictions, "Add to the training set", None
        )
