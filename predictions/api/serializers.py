from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty

from classifier_site.api import StrictSerializer, check_upload_size, check_uploads
from classifier_site.media import media_url
from jobs.models import Job
from jobs.serializers import JobSerializer, priority_field
from predictions.models import Prediction
from training.models import ModelVersion


class PredictionSerializer(serializers.ModelSerializer):
    model_version: serializers.SlugRelatedField[ModelVersion] = serializers.SlugRelatedField(
        slug_field="number", read_only=True
    )
    image_url = serializers.SerializerMethodField()

    class Meta:
        model = Prediction
        fields = [
            "id",
            "top_label",
            "confidence",
            "probabilities",
            "model_version",
            "source",
            "original_name",
            "image_url",
            "created_at",
        ]
        read_only_fields = fields

    def get_image_url(self, prediction: Prediction) -> str:
        return media_url(self.context.get("request"), prediction.image)


class PredictRequestSerializer(StrictSerializer):
    image = serializers.FileField(help_text="Any image format Pillow reads; checked by decoding.")
    top_k = serializers.IntegerField(min_value=1, max_value=100, default=3)

    def validate_image(self, upload):
        check_upload_size(upload)
        return upload


class ClassProbabilitySerializer(serializers.Serializer):
    # The stubs take a field named "label" for Field.label (the metaclass removes it)
    label = serializers.CharField()  # type: ignore[assignment]
    probability = serializers.FloatField()


class PredictResponseSerializer(serializers.Serializer):
    prediction_id = serializers.IntegerField()
    model_version = serializers.IntegerField()
    # The stubs take a field named "label" for Field.label (the metaclass removes it)
    label = serializers.CharField()  # type: ignore[assignment]
    confidence = serializers.FloatField()
    top = ClassProbabilitySerializer(many=True)
    probabilities = serializers.DictField(child=serializers.FloatField())


class BatchFilesSerializer(StrictSerializer):
    """Images or one zip: what a batch job's submit and each append to a draft take."""

    exactly_one_of: tuple[tuple[str, ...], ...] = (("images",), ("archive",))

    images = serializers.ListField(
        child=serializers.FileField(),
        required=False,
        min_length=1,
        max_length=settings.API_MAX_FILES,
        help_text="Several image files.",
    )
    archive = serializers.FileField(required=False, help_text="Or one .zip of images.")

    def validate_images(self, uploads):
        return check_uploads(uploads)

    def validate_archive(self, upload):
        check_upload_size(upload)
        return upload

    def validate(self, attrs):
        if bool(attrs.get("images")) == bool(attrs.get("archive")):
            raise serializers.ValidationError("send either `images` (files) or one `archive` (zip)")
        return attrs


@extend_schema_field({"type": "boolean", "enum": [True]})
class OnlyTrueField(serializers.BooleanField):
    """A flag that is sent as `true` or not at all."""

    default_empty_html = empty  # a form without the field has not sent it (not `false`)


class BatchJobRequestSerializer(BatchFilesSerializer):
    exactly_one_of = (("images",), ("archive",), ("draft",))

    draft = OnlyTrueField(
        required=False,
        help_text="True: create an empty draft job, without files, to append images to "
        "over several requests (`POST .../{id}/files/`) and then start "
        "(`POST .../{id}/start/`).",
    )
    # A draft's too: it is kept when the draft is started.
    priority = priority_field()

    def validate_draft(self, value: bool) -> bool:
        if not value:
            raise serializers.ValidationError("only `true`: leave `draft` out for a job with files")
        return value

    def validate(self, attrs):
        if "draft" in attrs:
            if attrs.get("images") or attrs.get("archive"):
                raise serializers.ValidationError(
                    "a draft is created empty: append its files with POST .../{id}/files/"
                )
            return attrs
        return super().validate(attrs)


class BatchAppendRequestSerializer(BatchFilesSerializer):
    part = serializers.CharField(
        max_length=64,
        required=False,
        help_text="The client's key for this part, unique within the job (for example its "
        "index): a part sent again (after a dropped connection) is not stored twice.",
    )


class BatchPartSerializer(serializers.Serializer):
    key = serializers.CharField()
    first = serializers.IntegerField(help_text="The position of the part's first image.")
    count = serializers.IntegerField()


class BatchAppendedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    total = serializers.IntegerField(help_text="The draft's images after this request.")
    part = serializers.CharField(allow_null=True)
    first = serializers.IntegerField(help_text="The position of this part's first image.")
    count = serializers.IntegerField(help_text="The images this part holds.")
    duplicate = serializers.BooleanField(
        help_text="True: this part had been received before; nothing was added."
    )


class BatchPartsSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    total = serializers.IntegerField()
    parts = BatchPartSerializer(many=True)


class DayCountSerializer(serializers.Serializer):
    date = serializers.DateField()
    count = serializers.IntegerField()


class PredictionStatisticsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    average_confidence = serializers.FloatField(allow_null=True)
    per_class = serializers.DictField(child=serializers.IntegerField())
    per_day = DayCountSerializer(many=True)


class PredictManyRequestSerializer(StrictSerializer):
    images = serializers.ListField(
        child=serializers.FileField(),
        min_length=1,
        max_length=settings.API_SYNC_BATCH_LIMIT,
        help_text="A few images, answered in the request.",
    )
    top_k = serializers.IntegerField(min_value=1, max_value=100, default=3)

    def validate_images(self, uploads):
        limit = settings.API_SYNC_BATCH_LIMIT
        if len(uploads) > limit:
            raise serializers.ValidationError(
                f"at most {limit} images are answered directly; "
                "submit more as a batch job at /api/v1/batch-jobs/"
            )
        return check_uploads(uploads)


class PredictManyResponseSerializer(serializers.Serializer):
    results = PredictResponseSerializer(many=True)


class BatchResultSerializer(serializers.Serializer):
    position = serializers.IntegerField(min_value=0, help_text="Upload order, from 0.")
    original_name = serializers.CharField()
    # The stubs take a field named "label" for Field.label (the metaclass removes it)
    label = serializers.CharField(allow_null=True, help_text="Null until it is predicted.")  # type: ignore[assignment]
    confidence = serializers.FloatField(allow_null=True, min_value=0, max_value=1)
    model_version = serializers.IntegerField(allow_null=True)
    probabilities = serializers.DictField(
        child=serializers.FloatField(min_value=0, max_value=1), allow_null=True
    )
    image_url = serializers.CharField()


class BatchJobResultsSerializer(serializers.Serializer):
    job = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Job.Status.choices)
    results = BatchResultSerializer(many=True)


class BatchJobCreatedSerializer(JobSerializer):
    access_key = serializers.CharField(
        allow_null=True,
        help_text="An anonymous caller's key to this job, shown only here: send it as the "
        "X-Job-Key header to see, follow, get the results of, or cancel the job. "
        "Null for signed-in callers, whose jobs are theirs.",
    )

    class Meta(JobSerializer.Meta):
        fields = [*JobSerializer.Meta.fields, "access_key"]
        read_only_fields = fields
