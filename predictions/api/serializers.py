from django.conf import settings
from rest_framework import serializers

from predictions.models import Prediction


def _check_size(upload) -> None:
    if upload.size == 0:
        raise serializers.ValidationError("the file is empty (0 bytes)")
    if upload.size > settings.API_MAX_UPLOAD_BYTES:
        raise serializers.ValidationError(
            f"the file is {upload.size} bytes; the limit is {settings.API_MAX_UPLOAD_BYTES}"
        )


class PredictionSerializer(serializers.ModelSerializer):
    model_version = serializers.SlugRelatedField(slug_field="number", read_only=True)

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
            "created_at",
        ]
        read_only_fields = fields


class PredictRequestSerializer(serializers.Serializer):
    image = serializers.FileField(help_text="Any image format Pillow reads; checked by decoding.")
    top_k = serializers.IntegerField(min_value=1, max_value=100, default=3)

    def validate_image(self, upload):
        _check_size(upload)
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


class BatchJobRequestSerializer(serializers.Serializer):
    images = serializers.ListField(
        child=serializers.FileField(), required=False, help_text="Several image files."
    )
    archive = serializers.FileField(required=False, help_text="Or one .zip of images.")

    def validate_images(self, uploads):
        if len(uploads) > settings.API_MAX_FILES:
            raise serializers.ValidationError(f"at most {settings.API_MAX_FILES} files per request")
        for upload in uploads:
            _check_size(upload)
        return uploads

    def validate_archive(self, upload):
        _check_size(upload)
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
