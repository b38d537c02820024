"""The label form of the admin's relabel and add-to-training actions, and the page
that asks for it: a class label for the chosen images; a new class must be asked for."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from classifier_site.admin_widgets import THUMBNAIL_PIXELS, image_tag
from training.models import LABEL_MAX_LENGTH, check_label, known_labels

INTERMEDIATE_TEMPLATE = "admin/label_form.html"


class LabelForm(forms.Form):
    """A class label for the chosen images; a new class must be asked for."""

    label = forms.CharField(
        max_length=LABEL_MAX_LENGTH,
        widget=forms.TextInput(attrs={"list": "known-labels", "autocomplete": "off"}),
    )
    new_class = forms.BooleanField(required=False, label="This is a new class")

    def clean(self):
        super().clean()
        data = self.cleaned_data  # what Form.clean returns (the stubs say it may be None)
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
