from django.conf import settings
from rest_framework import serializers

from classifier_site.api import StrictSerializer, check_upload_size, check_uploads
from classifier_site.media import media_url
from jobs.serializers import JobSerializer, priority_field
from predictions.models import Prediction


class PredictionSerializer(serializers.ModelSerializer):
    model_version = serializers.SlugRelatedField(slug_field="number", read_only=True)
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
    label = serializers.CharField()
    probability = serializers.FloatField()


class PredictResponseSerializer(serializers.Serializer):
    prediction_id = serializers.IntegerField()
    model_version = serializers.IntegerField()
    label = serializers.CharField()
    confidence = serializers.FloatField()
    top = ClassProbabilitySerializer(many=True)
    probabilities = serializers.DictField(child=serializers.FloatField())


class BatchJobRequestSerializer(StrictSerializer):
    images = serializers.ListField(
        child=serializers.FileField(), required=False, help_text="Several image files."
    )
    archive = serializers.FileField(required=False, help_text="Or one .zip of images.")
    priority = priority_field()

    def validate_images(self, uploads):
        return check_uploads(uploads)

    def validate_archive(self, upload):
        check_upload_size(upload)
        return upload

    def validate(self, attrs):
        if bool(attrs.get("images")) == bool(attrs.get("archive")):
            raise serializers.ValidationError("send either `images` (files) or one `archive` (zip)")
        return attrs


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
        child=serializers.FileField(), help_text="A few images, answered in the request."
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
