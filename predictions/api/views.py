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
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from classifier_site.api import (
    CanPredict,
    MultipartPostMixin,
    VersionNumberFilter,
    error,
    refuse_any_field,
)
from classifier_site.backpressure import check_disk
from classifier_site.media import signed_url
from classifier_site.schema import OVER_QUOTA, SERVICE_FULL
from classifier_site.uploads import RequestTooLarge, check_request_pixels, read_upload
from classifier_site.visibility import visible_to
from jobs import quotas
from jobs.models import Job
from jobs.serializers import JobSerializer
from jobs.views import JobViewSet, priority_refused
from ml_core.datasets import display_name
from ml_core.preprocessing import InvalidImageError
from predictions import batch, drafts
from predictions.api.serializers import (
    BatchAppendedSerializer,
    BatchAppendRequestSerializer,
    BatchJobCreatedSerializer,
    BatchJobRequestSerializer,
    BatchJobResultsSerializer,
    BatchPartsSerializer,
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
from training.models import LABEL_MAX_LENGTH


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
    check_disk()  # a 503 when MEDIA_ROOT's disk is nearly full
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
    # Bounded as the values are (and said so in the schema, classifier_site/schema.py).
    label = django_filters.CharFilter(field_name="top_label", max_length=LABEL_MAX_LENGTH)
    min_confidence = django_filters.NumberFilter(
        field_name="confidence", lookup_expr="gte", min_value=0, max_value=1
    )
    max_confidence = django_filters.NumberFilter(
        field_name="confidence", lookup_expr="lte", min_value=0, max_value=1
    )
    model_version = VersionNumberFilter(field_name="model_version__number")
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

    @extend_schema(responses=PredictionStatisticsSerializer, filters=True)
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
        if self.action in {"create", "files", "start"}:
            return [CanPredict()]
        return super().get_permissions()

    def get_parsers(self):
        # A draft is created with JSON (`{"draft": true}`) or a form; files come multipart.
        actions = getattr(self, "action_map", None) or {}
        method = (self.request.method or "").lower() if self.request is not None else ""
        if actions.get(method) == "create":
            return [MultiPartParser(), JSONParser()]
        return super().get_parsers()

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

    def _holds_key(self, job: Job) -> bool:
        key = self._access_key()
        return bool(key and job.submitted_by_id is None and job.access_key_hash) and (
            constant_time_compare(job.access_key_hash, batch.access_key_hash(key))
        )

    def may_cancel(self, request: Request, job: Job) -> bool:
        """An anonymous job: whoever holds its key; else as for every job."""
        return self._holds_key(job) or super().may_cancel(request, job)

    def _may_build(self, request: Request, job: Job) -> bool:
        """Appending to and starting a draft: its submitter, or the holder of its key
        (not staff: the images a job predicts are its submitter's)."""
        user = request.user
        owner = user.is_authenticated and job.submitted_by_id == user.pk
        return owner or self._holds_key(job)

    @extend_schema(parameters=[ACCESS_KEY_PARAMETER])
    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        parameters=[ACCESS_KEY_PARAMETER],
        request=None,
        responses={200: JobSerializer, 403: OpenApiResponse()},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: int | None = None) -> Response:  # type: ignore[override]
        """A cancelled draft's images are deleted at once (it never ran)."""
        was_draft = self.get_object().status == Job.Status.DRAFT
        # The DRF stubs type an @action as a protocol whose __call__ is not bound to self
        response = super().cancel(request, pk)  # type: ignore[arg-type]
        if was_draft and response.data.get("status") == Job.Status.CANCELLED:
            batch.discard_draft_items(self.get_object())
        return response

    @extend_schema(
        request=BatchJobRequestSerializer,
        responses={
            201: BatchJobCreatedSerializer,
            202: BatchJobCreatedSerializer,
            400: OpenApiResponse(description="a file is not an image, or limits exceeded"),
            403: OpenApiResponse(description="priority high asked by a caller not staff"),
            413: OpenApiResponse(description="the request's bytes or pixels are over budget"),
            429: OVER_QUOTA,
            503: OpenApiResponse(description="no production model, or the service is full"),
            507: OpenApiResponse(description="the server cannot store uploads right now"),
        },
    )
    def create(self, request: Request) -> Response:
        serializer = BatchJobRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        priority = serializer.validated_data["priority"]
        if refused := priority_refused(request, priority):
            return refused
        user = request.user if request.user.is_authenticated else None
        access_key = None if user else batch.new_access_key()
        caller = quotas.caller_of(request)
        if serializer.validated_data.get("draft"):
            with quotas.one_submit_at_a_time(caller):
                quotas.check_job_submit(caller)  # a draft is an active job
                job = drafts.create_draft(
                    user=user,
                    access_key=access_key,
                    client_key=caller.client_key,
                    priority=priority,
                )
            body = {**JobSerializer(job, context={"request": request}).data}
            return Response({**body, "access_key": access_key}, status=status.HTTP_201_CREATED)
        try:
            images = _checked_images(serializer.validated_data)
            with quotas.one_submit_at_a_time(caller):
                # Over a quota: 429; the service full: 503 (both with Retry-After).
                quotas.check_batch_submit(caller, len(images))
                # Leaves nothing behind if it fails.
                job = batch.submit_batch_job(
                    images,
                    user=user,
                    access_key=access_key,
                    client_key=caller.client_key,
                    priority=priority,
                )
        except batch.InvalidBatch as exc:
            return error(400, "invalid input", errors={"images": exc.errors})
        except batch.NoProductionModel as exc:
            return error(503, str(exc))
        body = {**JobSerializer(job, context={"request": request}).data, "access_key": access_key}
        return Response(body, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        methods=["GET"],
        parameters=[ACCESS_KEY_PARAMETER],
        responses={200: BatchPartsSerializer},
    )
    @extend_schema(
        methods=["POST"],
        parameters=[ACCESS_KEY_PARAMETER],
        request=BatchAppendRequestSerializer,
        responses={
            200: BatchAppendedSerializer,
            201: BatchAppendedSerializer,
            400: OpenApiResponse(description="a file is not an image, or limits exceeded"),
            403: OpenApiResponse(description="not the submitter, nor the holder of its key"),
            409: OpenApiResponse(description="the job is no longer a draft"),
            413: OpenApiResponse(
                description="the request's bytes or pixels, or the job's images "
                "(BATCH_JOB_MAX_IMAGES), are over budget"
            ),
            429: OVER_QUOTA,
            503: SERVICE_FULL,
            507: OpenApiResponse(description="the server cannot store uploads right now"),
        },
    )
    @action(detail=True, methods=["get", "post"], parser_classes=[MultiPartParser])
    def files(self, request: Request, pk: int | None = None) -> Response:
        """POST: append images (or one zip) to a draft, answered 201 (200 when `part`
        was received before, nothing added). GET: the parts received so far, for a
        client resuming an upload."""
        job = self.get_object()
        if request.method == "GET":
            parts = drafts.received_parts(job)
            body = {"id": job.pk, "status": job.status, "total": job.total, "parts": parts}
            return Response(body)
        if not self._may_build(request, job):
            return error(403, "only the job's submitter (or its key's holder) may add files")
        serializer = BatchAppendRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        part = serializer.validated_data.get("part", "")
        try:
            images = _checked_images(serializer.validated_data)
            caller = quotas.caller_of(request)
            with quotas.one_submit_at_a_time(caller):
                # A draft's images count as queued: 429 over the caller's quota, 503 when full.
                quotas.check_draft_append(caller, len(images))
                appended = drafts.append_to_draft(job, images, part)
        except batch.InvalidBatch as exc:
            return error(400, "invalid input", errors={"images": exc.errors})
        except drafts.NotADraft as exc:
            return error(409, str(exc))
        except drafts.TooManyImages as exc:
            raise RequestTooLarge(str(exc), exc.limit) from exc
        body = {
            "id": job.pk,
            "status": Job.Status.DRAFT,
            "total": appended.total,
            "part": part or None,
            "first": appended.first,
            "count": appended.count,
            "duplicate": appended.duplicate,
        }
        return Response(body, status=200 if appended.duplicate else 201)

    @extend_schema(
        parameters=[ACCESS_KEY_PARAMETER],
        request=None,
        responses={
            202: JobSerializer,
            403: OpenApiResponse(description="not the submitter, nor the holder of its key"),
            409: OpenApiResponse(description="the job is not a draft, or a draft without images"),
            503: OpenApiResponse(description="no production model"),
        },
    )
    @action(detail=True, methods=["post"])
    def start(self, request: Request, pk: int | None = None) -> Response:
        """Queue a draft's images for prediction by the model now in production."""
        refuse_any_field(request)
        job = self.get_object()
        if not self._may_build(request, job):
            return error(403, "only the job's submitter (or its key's holder) may start it")
        try:
            job = drafts.start_draft(job)
        except drafts.NotADraft as exc:
            return error(409, str(exc))
        except batch.NoProductionModel as exc:
            return error(503, str(exc))
        body = JobSerializer(job, context={"request": request}).data
        return Response(body, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        parameters=[
            OpenApiParameter("as", str, enum=["json", "csv"], default="json"),
            ACCESS_KEY_PARAMETER,
        ],
        responses={
            (200, "application/json"): OpenApiResponse(
                BatchJobResultsSerializer, description="one row per image, in upload order"
            ),
            (200, "text/csv"): OpenApiResponse(str, description="?as=csv: the same rows"),
        },
    )
    @action(detail=True, methods=["get"])
    def results(self, request: Request, pk: int | None = None):
        job = self.get_object()
        if (form := request.query_params.get("as", "json")) not in {"json", "csv"}:
            return error(400, "invalid input", errors={"as": ["`json` or `csv`"]})
        if form == "csv":
            response = HttpResponse(batch.results_csv(job), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="batch-job-{job.pk}.csv"'
            return response
        rows = batch.results(job)
        stored = dict(BatchItem.objects.filter(job=job).values_list("position", "image"))
        for row in rows:
            row["image_url"] = signed_url(request, stored[row["position"]])
        return Response({"job": job.pk, "status": job.status, "results": rows})


def _checked_images(data: dict) -> list[batch.UploadedImage]:
    """A request's images (or its zip's), their pixels checked from their headers
    before anything is stored (RequestTooLarge; InvalidBatch naming the files)."""
    if archive := data.get("archive"):
        images = batch.images_from_zip(archive)
    else:
        images = [
            batch.UploadedImage(display_name(upload.name or ""), read_upload(upload))
            for upload in data["images"]
        ]
    if problems := check_request_pixels((image.name, image.content) for image in images):
        raise batch.InvalidBatch(problems)
    return images
