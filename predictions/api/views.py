from __future__ import annotations

from datetime import UTC

import django_filters
from django.db.models import Avg, Count, Q
from django.db.models.functions import TruncDate
from django.http import HttpResponse
from django.utils.crypto import constant_time_compare
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from classifier_site.api import CanPredict, MultipartPostMixin, error
from classifier_site.media import signed_url
from classifier_site.uploads import check_request_pixels, read_upload
from classifier_site.visibility import visible_to
from jobs.models import Job
from jobs.serializers import JobSerializer
from jobs.views import JobViewSet, priority_refused
from ml_core.datasets import display_name
from ml_core.preprocessing import InvalidImageError
from predictions import batch
from predictions.api.serializers import (
    BatchJobCreatedSerializer,
    BatchJobRequestSerializer,
    PredictionSerializer,
    PredictionStatisticsSerializer,
    PredictManyRequestSerializer,
    PredictManyResponseSerializer,
    PredictRequestSerializer,
    PredictResponseSerializer,
)
from predictions.models import BatchItem, Prediction
from predictions.single import PredictionUnavailable, predict_images_now
from predictions.wire import PredictionAnswer


class PredictView(APIView):
    """Predict one image; answered synchronously by an inference worker."""

    permission_classes = [CanPredict]
    parser_classes = [MultiPartParser]

    @extend_schema(
        request=PredictRequestSerializer,
        responses={
            200: PredictResponseSerializer,
            400: OpenApiResponse(description="not an image, empty, too large"),
            413: OpenApiResponse(description="the request's bytes or pixels are over budget"),
            503: OpenApiResponse(description="no production model, or no worker answered"),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = PredictRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["image"]
        top_k = serializer.validated_data["top_k"]
        return _predict(request, [upload], top_k, lambda results: results[0])


class PredictManyView(APIView):
    """Predict a few images (up to API_SYNC_BATCH_LIMIT) in the request itself;
    more go to /api/v1/batch-jobs/."""

    permission_classes = [CanPredict]
    parser_classes = [MultiPartParser]

    @extend_schema(
        request=PredictManyRequestSerializer,
        responses={
            200: PredictManyResponseSerializer,
            400: OpenApiResponse(description="a file is not an image, or too many files"),
            413: OpenApiResponse(description="the request's bytes or pixels are over budget"),
            503: OpenApiResponse(description="no production model, or no worker answered"),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = PredictManyRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        uploads = serializer.validated_data["images"]
        top_k = serializer.validated_data["top_k"]
        return _predict(request, uploads, top_k, lambda results: {"results": results})


def _predict(request: Request, uploads: list, top_k: int, shape) -> Response:
    images = [(display_name(upload.name or ""), read_upload(upload)) for upload in uploads]
    check_request_pixels(images)
    try:
        results = predict_images_now(images, Prediction.Source.API, request.user)
    except InvalidImageError as exc:
        field = "image" if len(uploads) == 1 else "images"
        return error(400, "invalid input", errors={field: [str(exc)]})
    except PredictionUnavailable as exc:
        return error(503, str(exc))
    return Response(shape([_with_top_k(result, top_k) for result in results]))


def _with_top_k(answer: PredictionAnswer, top_k: int) -> dict:
    ranked = sorted(answer.probabilities.items(), key=lambda item: -item[1])
    return {
        "prediction_id": answer.prediction_id,
        "model_version": answer.model_version,
        "label": answer.label,
        "confidence": answer.confidence,
        "top": [{"label": label, "probability": p} for label, p in ranked[:top_k]],
        "probabilities": answer.probabilities,
    }


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 date-time with any UTC offset, compared in UTC: PostgreSQL refuses
    offsets beyond about 16 hours, which ISO 8601 allows (schemathesis sent one)."""

    def filter(self, queryset, value):
        return super().filter(queryset, value.astimezone(UTC) if value else value)


class PredictionFilter(django_filters.FilterSet):
    label = django_filters.CharFilter(field_name="top_label")
    min_confidence = django_filters.NumberFilter(field_name="confidence", lookup_expr="gte")
    max_confidence = django_filters.NumberFilter(field_name="confidence", lookup_expr="lte")
    model_version = django_filters.NumberFilter(field_name="model_version__number")
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Prediction
        fields = ["label", "source"]


class PredictionViewSet(viewsets.ReadOnlyModelViewSet):
    """Prediction history, newest first, filterable: a signed-in caller's own
    predictions (their single ones and their batch jobs'); every prediction for staff
    and holders of predictions.view_prediction; none for anonymous callers, who get
    theirs in the answer to their request."""

    queryset = Prediction.objects.select_related("model_version")
    serializer_class = PredictionSerializer
    filterset_class = PredictionFilter

    def get_queryset(self):
        predictions = super().get_queryset()
        visible = visible_to(self.request.user, "owner", "predictions.view_prediction")
        return predictions if visible is None else predictions.filter(visible)

    @extend_schema(responses=PredictionStatisticsSerializer)
    @action(detail=False)
    def stats(self, request: Request) -> Response:
        """Counts, average confidence, predictions per class and per day (same filters,
        over the predictions the caller may see)."""
        rows = self.filter_queryset(self.get_queryset()).order_by()
        summary = rows.aggregate(total=Count("id"), average_confidence=Avg("confidence"))
        per_class = rows.values("top_label").annotate(count=Count("id")).order_by("top_label")
        per_day = (
            rows.annotate(day=TruncDate("created_at"))
            .values("day")
            .annotate(count=Count("id"))
            .order_by("day")
        )
        return Response(
            {
                **summary,
                "per_class": {row["top_label"]: row["count"] for row in per_class},
                "per_day": [{"date": row["day"], "count": row["count"]} for row in per_day],
            }
        )


ACCESS_KEY_HEADER = "X-Job-Key"
ACCESS_KEY_PARAMETER = OpenApiParameter(
    ACCESS_KEY_HEADER,
    str,
    location=OpenApiParameter.HEADER,
    required=False,
    description="An anonymous job's access key, from `access_key` in the answer that "
    "created it: the only way for an anonymous caller to see, follow or cancel it.",
)


class BatchJobViewSet(MultipartPostMixin, JobViewSet):
    """Batch-inference jobs: submit many images (or a zip), follow progress, get results.

    A signed-in caller sees their own jobs; staff and holders of jobs.view_job see
    all. An anonymous caller's job is seen (followed, its results read, cancelled)
    only with the access key its submit answered with, sent as the X-Job-Key header."""

    queryset = JobViewSet.queryset.filter(kind=Job.Kind.BATCH_INFERENCE)
    filterset_fields = ["status"]
    # Anonymous callers too (while predicting is open to them): may_cancel decides.
    cancel_permission_classes = [CanPredict]

    def get_permissions(self):
        if self.action == "create":
            return [CanPredict()]
        return super().get_permissions()

    def get_queryset(self):
        jobs = super().get_queryset()
        visible = visible_to(self.request.user, "submitted_by", "jobs.view_job")
        if visible is None:
            return jobs
        if self.detail and (key := self._access_key()):
            visible |= Q(submitted_by__isnull=True, access_key_hash=batch.access_key_hash(key))
        return jobs.filter(visible)

    def _access_key(self) -> str:
        return self.request.headers.get(ACCESS_KEY_HEADER, "").strip()

    def may_cancel(self, request: Request, job: Job) -> bool:
        """An anonymous job: whoever holds its key; else as for every job."""
        key = self._access_key()
        holds_key = bool(key and job.submitted_by_id is None and job.access_key_hash) and (
            constant_time_compare(job.access_key_hash, batch.access_key_hash(key))
        )
        return holds_key or super().may_cancel(request, job)

    @extend_schema(parameters=[ACCESS_KEY_PARAMETER])
    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        parameters=[ACCESS_KEY_PARAMETER],
        request=None,
        responses={200: JobSerializer, 403: OpenApiResponse()},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: int | None = None) -> Response:
        return super().cancel(request, pk)

    @extend_schema(
        request=BatchJobRequestSerializer,
        responses={
            202: BatchJobCreatedSerializer,
            400: OpenApiResponse(description="a file is not an image, or limits exceeded"),
            403: OpenApiResponse(description="priority high asked by a caller not staff"),
            413: OpenApiResponse(description="the request's bytes or pixels are over budget"),
            503: OpenApiResponse(description="no production model"),
            507: OpenApiResponse(description="the server cannot store uploads right now"),
        },
    )
    def create(self, request: Request) -> Response:
        serializer = BatchJobRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        priority = serializer.validated_data["priority"]
        if refused := priority_refused(request, priority):
            return refused
        try:
            if archive := serializer.validated_data.get("archive"):
                images = batch.images_from_zip(archive)
            else:
                images = [
                    batch.UploadedImage(display_name(upload.name or ""), read_upload(upload))
                    for upload in serializer.validated_data["images"]
                ]
            if problems := check_request_pixels((image.name, image.content) for image in images):
                raise batch.InvalidBatch(problems)  # before anything is stored
            user = request.user if request.user.is_authenticated else None
            access_key = None if user else batch.new_access_key()
            # Leaves nothing behind if it fails.
            job = batch.submit_batch_job(
                images, user=user, access_key=access_key, priority=priority
            )
        except batch.InvalidBatch as exc:
            return error(400, "invalid input", errors={"images": exc.errors})
        except batch.NoProductionModel as exc:
            return error(503, str(exc))
        body = {**JobSerializer(job, context={"request": request}).data, "access_key": access_key}
        return Response(body, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        parameters=[
            OpenApiParameter("as", str, enum=["json", "csv"], default="json"),
            ACCESS_KEY_PARAMETER,
        ],
        responses={200: OpenApiResponse(description="one row per image, in upload order")},
    )
    @action(detail=True, methods=["get"])
    def results(self, request: Request, pk: int | None = None):
        job = self.get_object()
        if request.query_params.get("as") == "csv":
            response = HttpResponse(batch.results_csv(job), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="batch-job-{job.pk}.csv"'
            return response
        rows = batch.results(job)
        stored = dict(BatchItem.objects.filter(job=job).values_list("position", "image"))
        for row in rows:
            row["image_url"] = signed_url(request, stored[row["position"]])
        return Response({"job": job.pk, "status": job.status, "results": rows})
