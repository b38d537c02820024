from __future__ import annotations

from functools import partial

import django_filters
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Count
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from classifier_site.api import (
    MultipartPostMixin,
    VersionNumberFilter,
    error,
    may_view,
    refuse_any_field,
    requires,
)
from classifier_site.backpressure import check_disk
from classifier_site.media_store import all_or_nothing
from classifier_site.schema import OVER_QUOTA, SERVICE_FULL
from classifier_site.uploads import (
    check_request_pixels,
    offload,
    read_upload,
    training_zip_limits,
)
from jobs import quotas
from jobs.models import Job
from jobs.serializers import JobSerializer
from jobs.views import JobViewSet, priority_refused
from ml_core.config import TrainingConfig
from ml_core.datasets import ClassFolderReader, DatasetError, display_name
from ml_core.preprocessing import INPUT_SHAPE
from training.api.serializers import (
    ImportSummarySerializer,
    ModelVersionSerializer,
    TrainingImageCountsSerializer,
    TrainingImageSerializer,
    TrainingJobRequestSerializer,
    TrainingUploadSerializer,
    VisualizationSerializer,
    label_error,
)
from training.enqueue import queue_dataset_plots
from training.imports import import_class_folder, import_uploads
from training.models import (
    ModelVersion,
    RollbackError,
    TrainingImage,
    Visualization,
    visible_plots,
)
from training.submit import submit_evaluation_job, submit_training_job


class ModelVersionViewSet(viewsets.ReadOnlyModelViewSet):
    """Model versions, newest first; promote one, or roll production back."""

    queryset = ModelVersion.objects.all()
    serializer_class = ModelVersionSerializer
    lookup_field = "number"
    filterset_fields = ["status"]

    def get_permissions(self):
        if self.action in {"promote", "rollback"}:
            return [requires("training.change_modelversion")()]
        if self.action == "evaluate":
            return [requires("jobs.add_job")()]
        return super().get_permissions()

    @extend_schema(
        request=None,
        responses={
            202: JobSerializer,
            429: OVER_QUOTA,
            503: SERVICE_FULL,
        },
    )
    @action(detail=True, methods=["post"])
    def evaluate(self, request: Request, number: int | None = None) -> Response:
        """Evaluate this version on the current test split, as a job."""
        refuse_any_field(request)
        version = self.get_object()
        caller = quotas.caller_of(request)
        with quotas.one_submit_at_a_time(caller):
            quotas.check_job_submit(caller)  # 429 over the caller's quota, 503 when full
            job = submit_evaluation_job(version, user=request.user)
        body = JobSerializer(job, context={"request": request}).data
        return Response(body, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses=ModelVersionSerializer)
    @action(detail=True, methods=["post"])
    def promote(self, request: Request, number: int | None = None) -> Response:
        refuse_any_field(request)
        version = self.get_object()
        version.promote(user=request.user)
        version.refresh_from_db()
        return Response(self.get_serializer(version).data)

    @extend_schema(
        request=None,
        responses={
            200: ModelVersionSerializer,
            409: OpenApiResponse(description="nothing to roll back to"),
        },
    )
    @action(detail=False, methods=["post"])
    def rollback(self, request: Request) -> Response:
        refuse_any_field(request)
        try:
            version = ModelVersion.rollback()
        except RollbackError as exc:
            return error(status.HTTP_409_CONFLICT, str(exc))
        return Response(self.get_serializer(version).data)


def _uptime(since) -> float | None:
    return round((timezone.now() - since).total_seconds(), 1) if since else None


class ModelInfoView(APIView):
    """The production model: version, metrics, classes, input shape, and uptime."""

    permission_classes = [permissions.AllowAny]
    throttle_classes: list = []  # the dashboard polls it

    @extend_schema(
        responses=inline_serializer(
            "ModelInfo",
            {
                "production": ModelVersionSerializer(allow_null=True),
                "input_shape": serializers.ListField(child=serializers.IntegerField()),
                "service_started_at": serializers.DateTimeField(),
                "service_uptime_seconds": serializers.FloatField(),
                "model_serving_seconds": serializers.FloatField(allow_null=True),
            },
        )
    )
    def get(self, request: Request) -> Response:
        production = ModelVersion.production()
        return Response(
            {
                "production": ModelVersionSerializer(production).data if production else None,
                "input_shape": list(INPUT_SHAPE),
                "service_started_at": settings.SERVICE_STARTED_AT,
                "service_uptime_seconds": _uptime(settings.SERVICE_STARTED_AT),
                "model_serving_seconds": _uptime(production.promoted_at if production else None),
            }
        )


class TrainingJobViewSet(JobViewSet):
    """Training and evaluation jobs: start a retrain, follow its epochs, cancel it."""

    queryset = JobViewSet.queryset.exclude(kind=Job.Kind.BATCH_INFERENCE)
    filterset_fields = ["status", "kind"]

    def get_permissions(self):
        if self.action == "create":
            return [requires("jobs.add_job")()]
        return super().get_permissions()

    # Training and evaluation jobs stay readable by every reader (API_ANONYMOUS_READ):
    # they are the service's own work on the shared model, not anyone's data. Their
    # error is short and their submitter's name is shown to staff only (JobSerializer).

    @extend_schema(
        request=TrainingJobRequestSerializer,
        responses={
            202: JobSerializer,
            409: OpenApiResponse(description="there are no included training images"),
            429: OVER_QUOTA,
            503: SERVICE_FULL,
        },
    )
    def create(self, request: Request) -> Response:
        serializer = TrainingJobRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        options = dict(serializer.validated_data)
        auto_promote = options.pop("auto_promote")
        max_train_images = options.pop("max_train_images", None)
        priority = options.pop("priority")
        if refused := priority_refused(request, priority):
            return refused
        if not TrainingImage.objects.filter(split="train", status="included").exists():
            return error(409, "there are no included training images to train on")
        caller = quotas.caller_of(request)
        with quotas.one_submit_at_a_time(caller):
            quotas.check_job_submit(caller)  # 429 over the caller's quota, 503 when full
            job = submit_training_job(
                TrainingConfig(**options),
                auto_promote=auto_promote,
                max_train_images=max_train_images,
                user=request.user,
                priority=priority,
            )
        body = JobSerializer(job, context={"request": request}).data
        return Response(body, status=status.HTTP_202_ACCEPTED)


class TrainingImageViewSet(
    MultipartPostMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Training images: upload files with a label (or a zip of class folders),
    filter, relabel, include or exclude, move between splits.

    The images themselves (list, detail, files) are seen by staff and holders of
    training.view_trainingimage only: corrected predictions bring users' own uploads
    into the set. The counts per class and split stay open to every reader."""

    queryset = TrainingImage.objects.all()
    serializer_class = TrainingImageSerializer
    filterset_fields = ["label", "split", "status", "source"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_permissions(self):
        if self.action in {"list", "retrieve"}:
            return [may_view("training.view_trainingimage")()]
        return super().get_permissions()

    @extend_schema(
        responses={
            200: TrainingImageSerializer,
            409: OpenApiResponse(description="`label` names an unknown class"),
        }
    )
    def partial_update(self, request: Request, *args, **kwargs) -> Response:
        return super().partial_update(request, *args, **kwargs)

    @extend_schema(responses=TrainingImageCountsSerializer, filters=True)
    @action(detail=False)
    def counts(self, request: Request) -> Response:
        """Images per class, split and status (the list's filters apply)."""
        rows = (
            self.filter_queryset(self.get_queryset())
            .order_by()
            .values("label", "split", "status")
            .annotate(count=Count("id"))
            .order_by("label", "split", "status")
        )
        counts = list(rows)
        return Response({"total": sum(row["count"] for row in counts), "counts": counts})

    @extend_schema(
        request=TrainingUploadSerializer,
        responses={
            201: ImportSummarySerializer,
            400: OpenApiResponse(description="a refused zip, a bad label, or limits exceeded"),
            409: OpenApiResponse(description="a label (or folder) names an unknown class"),
            413: OpenApiResponse(description="the request's bytes or pixels are over budget"),
            507: OpenApiResponse(description="the server cannot store uploads right now"),
        },
    )
    def create(self, request: Request) -> Response:
        serializer = TrainingUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        check_disk()  # a 503 when MEDIA_ROOT's disk is nearly full
        data = serializer.validated_data
        # All or nothing: an archive found corrupt halfway, or a full disk, leaves
        # neither rows nor files from this upload.
        if archive := data.get("archive"):
            try:
                with offload(ClassFolderReader, archive, training_zip_limits()) as reader:
                    check_request_pixels(
                        (entry.name, partial(reader.read, entry)) for entry in reader.entries
                    )
                    with all_or_nothing():
                        summary = import_class_folder(
                            reader, data["split"], allow_new=data["new_class"]
                        )
            except DatasetError as exc:
                return error(400, "invalid input", errors={"archive": [str(exc)]})
            except DjangoValidationError as exc:  # folders of unknown classes: 409
                code = 409 if exc.code == "unknown_label" else 400
                return error(code, "invalid input", errors={"archive": [label_error(exc)]})
        else:
            uploads = data["images"]
            files = [(display_name(upload.name or ""), read_upload(upload)) for upload in uploads]
            check_request_pixels(files)
            with all_or_nothing():
                summary = import_uploads(
                    files, data["label"], data["split"], allow_new=data["new_class"]
                )
        if summary.created_in_split(TrainingImage.Split.TRAIN):
            queue_dataset_plots()
        body = {
            "created": summary.created_total,
            "already_present": summary.already_present,
            "rejected": summary.rejected,
        }
        return Response(body, status=status.HTTP_201_CREATED)


class VisualizationFilter(django_filters.FilterSet):
    model_version = VersionNumberFilter(
        field_name="model_version__number",
        label="only the plots of this model version (its number)",
    )

    class Meta:
        model = Visualization
        fields: list[str] = []


class VisualizationViewSet(viewsets.ReadOnlyModelViewSet):
    """Dataset plots and each version's training curves, confusion matrix, ROC curves
    and per-class metrics, each with an interpretation computed from the data."""

    queryset = Visualization.objects.select_related("model_version")
    serializer_class = VisualizationSerializer
    filterset_class = VisualizationFilter
    lookup_field = "name"
    pagination_class = None

    def get_queryset(self):
        return visible_plots(self.request.user, super().get_queryset())
