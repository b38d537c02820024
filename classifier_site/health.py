"""The HTTP health checks: liveness (the web process answers) and readiness (the
database, Redis, an inference worker and a production model are there). The
container's own probe, which calls liveness, is classifier_site/container_probe.py."""

from __future__ import annotations

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from classifier_site.celery import app as celery_app
from training.models import ModelVersion

WORKER_PING_TIMEOUT_SECONDS = 1.0


class LivenessView(APIView):
    """The web process answers."""

    permission_classes = [permissions.AllowAny]
    authentication_classes: list = []
    throttle_classes: list = []  # health checks are never rate-limited

    @extend_schema(responses=inline_serializer("Liveness", {"status": serializers.CharField()}))
    def get(self, request: Request) -> Response:
        return Response({"status": "alive"})


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any failure means not ready, with the reason
        return f"database: {type(exc).__name__}: {exc}"
    return None


def _check_redis() -> str | None:
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1).ping()
    except redis.RedisError as exc:
        return f"redis: {exc}"
    return None


WORKERS_CACHE_KEY = "readiness:workers-by-queue"


def _workers_by_queue() -> dict[str, list[str]]:
    """Names of the workers consuming each queue. A census is one broadcast that always
    waits its whole timeout (nobody knows how many workers will answer), so it is
    shared through the cache: a status panel polled by many viewers costs one census
    per READINESS_WORKERS_CACHE_SECONDS, not one second per request."""
    seconds = settings.READINESS_WORKERS_CACHE_SECONDS
    by_queue = cache.get(WORKERS_CACHE_KEY) if seconds else None
    if by_queue is None:
        inspector = celery_app.control.inspect(timeout=WORKER_PING_TIMEOUT_SECONDS)
        by_queue = {}
        for name, queues in (inspector.active_queues() or {}).items():
            for queue in queues:
                by_queue.setdefault(queue["name"], []).append(name)
        if seconds:
            cache.set(WORKERS_CACHE_KEY, by_queue, seconds)
    return by_queue


def _workers_check(workers: list[str], kind: str) -> dict:
    if not workers:
        return {"ok": False, "detail": f"no {kind} worker answered"}
    return {"ok": True, "detail": f"{len(workers)} {kind} worker(s) answered"}


class ReadinessView(APIView):
    """Ready when the database, Redis, an inference worker and a production model are.
    `checks` tells each part's state; a training worker is reported, not required."""

    permission_classes = [permissions.AllowAny]
    authentication_classes: list = []
    throttle_classes: list = []

    @extend_schema(
        responses={
            200: inline_serializer(
                "Readiness",
                {
                    "ready": serializers.BooleanField(),
                    "problems": serializers.ListField(child=serializers.CharField()),
                    "checks": serializers.DictField(
                        child=inline_serializer(
                            "ReadinessCheck",
                            {"ok": serializers.BooleanField(), "detail": serializers.CharField()},
                        ),
                        help_text="database, redis, inference_workers, training_workers, "
                        "production_model",
                    ),
                },
            ),
            503: OpenApiResponse(description="not ready; `problems` says why"),
        }
    )
    def get(self, request: Request) -> Response:
        database, redis_problem = _check_database(), _check_redis()
        checks: dict[str, dict] = {
            "database": {"ok": database is None, "detail": database or "answered"},
            "redis": {"ok": redis_problem is None, "detail": redis_problem or "answered"},
        }
        problems = [problem for problem in (database, redis_problem) if problem]
        if not problems:
            workers = _workers_by_queue()
            checks["inference_workers"] = _workers_check(workers.get("inference", []), "inference")
            checks["training_workers"] = _workers_check(workers.get("training", []), "training")
            if not checks["inference_workers"]["ok"]:
                problems.append(checks["inference_workers"]["detail"])
            production = ModelVersion.production()
            if production is None:
                problems.append("no model version is in production")
            checks["production_model"] = {
                "ok": production is not None,
                "detail": f"version {production.number}" if production else "none in production",
            }
        ready = not problems
        return Response(
            {"ready": ready, "problems": problems, "checks": checks},
            status=status.HTTP_200_OK if ready else status.HTTP_503_SERVICE_UNAVAILABLE,
        )
