from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import RegexValidator
from rest_framework import serializers

from classifier_site.api import Conflict, StrictModelSerializer, StrictSerializer, check_uploads
from classifier_site.media import media_url
from jobs.serializers import priority_field
from ml_core import config as recipe
from training.models import (
    LABEL_MAX_LENGTH,
    LABEL_SCHEMA_PATTERN,
    ModelVersion,
    TrainingImage,
    Visualization,
    check_label,
)

SHA256_PATTERN = r"^[0-9a-f]{64}$"


def label_field(**kwargs) -> serializers.CharField:
    """A class label, its pattern and length in the schema (check_label enforces them)."""
    return serializers.CharField(
        max_length=LABEL_MAX_LENGTH,
        validators=[RegexValidator(LABEL_SCHEMA_PATTERN)],
        **kwargs,
    )


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


class TrainingImageSerializer(StrictModelSerializer):
    # The stubs take a field named "label" for Field.label (the metaclass removes it)
    label = label_field(required=False)  # type: ignore[assignment]
    sha256 = serializers.RegexField(SHA256_PATTERN, read_only=True)
    image_url = serializers.SerializerMethodField()
    new_class = serializers.BooleanField(
        write_only=True,
        required=False,
        help_text="Allow `label` to name a class the training set does not have yet.",
    )

    class Meta:
        model = TrainingImage
        fields = [
            "id",
            "label",
            "new_class",
            "split",
            "status",
            "source",
            "original_name",
            "sha256",
            "image_url",
            "created_at",
        ]
        read_only_fields = ["id", "source", "original_name", "sha256", "image_url", "created_at"]

    def get_image_url(self, image: TrainingImage) -> str:
        return media_url(self.context.get("request"), image.image)

    def validate(self, attrs):
        allow_new = attrs.pop("new_class", False)
        if "label" in attrs:
            attrs["label"] = _label_field(attrs["label"], allow_new)
        return attrs


def label_error(exc: DjangoValidationError) -> str:
    """The message of a refused label, with how to add a class when it is a new one."""
    message = exc.messages[0]
    if exc.code == "unknown_label":
        message += " (send new_class=true to add a class)"
    return message


def _label_field(value: str, allow_new: bool) -> str:
    try:
        check_label(value, allow_new)
    except DjangoValidationError as exc:
        if exc.code == "unknown_label":  # a valid label, just not a class yet: 409
            raise Conflict({"label": [label_error(exc)]}) from exc
        raise serializers.ValidationError({"label": [label_error(exc)]}) from exc
    return value


class TrainingUploadSerializer(StrictSerializer):
    exactly_one_of = (("images",), ("archive",))
    field_requires = {"images": ("label",)}

    images = serializers.ListField(
        child=serializers.FileField(),
        required=False,
        min_length=1,
        max_length=settings.API_MAX_FILES,
        help_text="Image files, all of the class `label`.",
    )
    # The stubs take a field named "label" for Field.label (the metaclass removes it)
    label = label_field(required=False, help_text="Label of every file in `images`.")  # type: ignore[assignment]
    archive = serializers.FileField(required=False, help_text="Or a zip of class folders.")
    split = serializers.ChoiceField(choices=TrainingImage.Split.choices, default="train")
    new_class = serializers.BooleanField(
        default=False,
        help_text="Allow `label` (or the archive's folders) to name classes the training "
        "set does not have yet.",
    )

    def validate_images(self, uploads):
        return check_uploads(uploads)

    def validate(self, attrs):
        if bool(attrs.get("images")) == bool(attrs.get("archive")):
            raise serializers.ValidationError(
                "send either `images` with a `label`, or one `archive`"
            )
        if attrs.get("images"):
            if not attrs.get("label"):
                raise serializers.ValidationError({"label": ["a label is required with `images`"]})
            attrs["label"] = _label_field(attrs["label"], attrs["new_class"])
        return attrs


class TrainingImageCountSerializer(serializers.Serializer):
    # The stubs take a field named "label" for Field.label (the metaclass removes it)
    label = serializers.CharField()  # type: ignore[assignment]
    split = serializers.ChoiceField(choices=TrainingImage.Split.choices)
    status = serializers.ChoiceField(choices=TrainingImage.Status.choices)
    count = serializers.IntegerField()


class TrainingImageCountsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    counts = TrainingImageCountSerializer(many=True)


class ImportSummarySerializer(serializers.Serializer):
    created = serializers.IntegerField()
    already_present = serializers.IntegerField()
    rejected = serializers.ListField(child=serializers.CharField())


def knob_field(knob: recipe.Knob) -> serializers.Field:
    """The request field of a recipe knob, with its declared default, bounds and help."""
    common = {"default": knob.default, "help_text": knob.sentence}
    if knob.choices:
        return serializers.ChoiceField(choices=knob.choices, **common)
    if knob.type is bool:
        return serializers.BooleanField(**common)
    number = serializers.IntegerField if knob.type is int else serializers.FloatField
    # An int knob is declared with int bounds; Knob types them float (which admits int).
    return number(min_value=knob.minimum, max_value=knob.maximum, **common)  # type: ignore[arg-type]


class TrainingJobRequestSerializer(StrictSerializer):
    """A retrain's parameters; every recipe knob defaults to the recipe (ml_core.config)."""

    max_train_images = serializers.IntegerField(min_value=10, required=False, allow_null=True)
    auto_promote = serializers.BooleanField(default=False)
    priority = priority_field()

    def get_fields(self) -> dict[str, serializers.Field]:
        # The recipe knobs first, each built from its declaration in ml_core.config.
        knobs = {knob.name: knob_field(knob) for knob in recipe.KNOBS}
        return {**knobs, **super().get_fields()}

    def validate(self, attrs):
        knobs = {knob.name: attrs[knob.name] for knob in recipe.KNOBS}
        try:
            recipe.TrainingConfig(**knobs)
        except ValueError as exc:  # a 400, not a 500 in the view, should the fields miss one
            raise serializers.ValidationError(str(exc)) from exc
        return attrs


class VisualizationSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    model_version: serializers.SlugRelatedField[ModelVersion] = serializers.SlugRelatedField(
        slug_field="number",
        read_only=True,
        allow_null=True,
        help_text="Number of the version a per-version plot is of; null for dataset plots.",
    )

    class Meta:
        model = Visualization
        fields = ["name", "title", "url", "interpretation", "model_version", "created_at"]
        read_only_fields = fields

    def get_url(self, visualization: Visualization) -> str:
        return media_url(self.context.get("request"), visualization.image)
