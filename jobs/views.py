"""The one Job viewset that batch jobs (predictions) and training jobs (training)
specialise: list, retrieve, `POST .../{id}/cancel/` and `POST .../{id}/priority/`."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, permissions, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from classifier_site.api import error, refuse_any_field
from jobs import lifecycle
from jobs.models import Job
from jobs.serializers import JobSerializer, PrioritySerializer

ONLY_STAFF_RAISE = "only staff may set priority high"


def priority_refused(request: Request, priority: str) -> Response | None:
    """A 403 naming the rule when a non-staff caller asks for high priority."""
    if priority == Job.Priority.HIGH and not request.user.is_staff:
        return error(403, ONLY_STAFF_RAISE, errors={"priority": [ONLY_STAFF_RAISE]})
    return None


class JobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Subclasses narrow `queryset` to their kinds of job. Cancelling is for the
    submitter, or a user allowed to change jobs (`may_cancel`)."""

    queryset = Job.objects.select_related("model_version", "submitted_by")
    serializer_class = JobSerializer
    cancel_permission_classes: list[type[permissions.BasePermission]] = [
        permissions.IsAuthenticated
    ]

    @extend_schema(request=None, responses={200: JobSerializer, 403: OpenApiResponse()})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: int | None = None) -> Response:
        refuse_any_field(request)
        job = self.get_object()
        if not self.may_cancel(request, job):
            return error(403, "only the submitter or a user allowed to change jobs may cancel it")
        body = JobSerializer(lifecycle.request_cancel(job), context={"request": request}).data
        return Response(body)

    @extend_schema(
        request=PrioritySerializer, responses={200: JobSerializer, 403: OpenApiResponse()}
    )
    @action(detail=True, methods=["post"])
    def priority(self, request: Request, pk: int | None = None) -> Response:
        """Change an unfinished job's priority: staff only (they may raise it)."""
        serializer = PrioritySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job = self.get_object()
        lifecycle.set_priority(job, serializer.validated_data["priority"])
        job.refresh_from_db()
        return Response(JobSerializer(job, context={"request": request}).data)

    def may_cancel(self, request: Request, job: Job) -> bool:
        user = request.user
        return user.is_authenticated and (
            job.submitted_by_id == user.pk or user.has_perm("jobs.change_job")
        )

    def get_permissions(self):
        if self.action == "priority":
            # Staff only, checked before the job is looked up: others learn nothing of it.
            return [permissions.IsAdminUser()]
        if self.action == "cancel":
            return [permission() for permission in self.cancel_permission_classes]
        return super().get_permissions()

    def get_throttles(self):
        if self.action == "retrieve":
            return []  # progress polling must never be limited into failure
        return super().get_throttles()
