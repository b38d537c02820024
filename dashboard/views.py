"""Dashboard pages. Each renders what the page needs at load time; everything that
changes while the page is open (jobs, predictions, uploads, service status) is
fetched by the page's script from the JSON API under /api/v1/, with the session."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, render
from django.utils._os import safe_join
from django.views.static import serve

from classifier_site import disk_usage, media
from classifier_site.visibility import sees_everything, visible_to
from jobs import quotas
from ml_core import config as recipe
from predictions.models import Prediction
from training.models import (
    ModelVersion,
    TrainingImage,
    Visualization,
    known_labels,
    visible_plots,
)

DATASET_PLOTS = ["class_distribution", "sample_images", "pixel_intensity"]
# Per-version plots, in the order the evaluation page shows them (`<name>_v<number>`).
VERSION_PLOTS = ["confusion_matrix", "roc_curves", "per_class_metrics", "training_curves"]
# The retrain form shows these recipe knobs first, the others under "More options".
FIRST_KNOBS = ("epochs", "batch_size")
# The batch page's parts: small enough that a dropped one costs little to send again.
PART_FILES = 50
PART_BYTES = 32 * 1024 * 1024
PART_FRAMING_BYTES = 1024 * 1024  # multipart headers and boundaries, generously
# Confusion-matrix cells shaded darker than this get white text.
DARK_CELL_SHARE = 0.5


def _open_to(setting: str) -> Callable:
    """Anonymous visitors see the page when `setting` allows it, as the API does."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not getattr(settings, setting) and not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


readable = _open_to("API_ANONYMOUS_READ")
predicting = _open_to("API_ANONYMOUS_PREDICT")


def _page(request: HttpRequest, template: str, page: str, **context) -> HttpResponse:
    return render(request, f"dashboard/{template}", {"page": page, **context})


def _predictions_seen_by(request: HttpRequest):
    """The predictions the API shows this visitor (classifier_site.visibility)."""
    visible = visible_to(request.user, "owner", "predictions.view_prediction")
    return Prediction.objects.all() if visible is None else Prediction.objects.filter(visible)


@readable
def home(request: HttpRequest) -> HttpResponse:
    """Service panel: uptime, readiness, the production model; what data is stored
    (training images counted for all, predictions those the visitor may see)."""
    counts = {
        split: TrainingImage.objects.filter(split=split).count()
        for split in TrainingImage.Split.values
    }
    return _page(
        request,
        "home.html",
        "home",
        production=ModelVersion.production(),
        version_count=ModelVersion.objects.count(),
        train_count=counts["train"],
        test_count=counts["test"],
        prediction_count=_predictions_seen_by(request).count(),
        sees_all_predictions=sees_everything(request.user, "predictions.view_prediction"),
        disk=_disk() if request.user.is_staff else None,  # an operator's concern
    )


def _disk() -> dict:
    """Disk use of media and models as the scheduled purge last measured it (never
    walked per page view), and the free space of their disks now (one call each)."""
    return {
        "usage": disk_usage.latest(),
        "media_free": disk_usage.free_bytes(settings.MEDIA_ROOT),
        "models_free": disk_usage.free_bytes(settings.MODELS_DIR),
    }


@predicting
def predict(request: HttpRequest) -> HttpResponse:
    return _page(
        request,
        "predict.html",
        "predict",
        production=ModelVersion.production(),
        max_upload_bytes=settings.API_MAX_UPLOAD_BYTES,
    )


@predicting
def batch(request: HttpRequest) -> HttpResponse:
    return _page(
        request,
        "batch.html",
        "batch",
        production=ModelVersion.production(),
        max_files=settings.API_MAX_FILES,
        max_upload_bytes=settings.API_MAX_UPLOAD_BYTES,
        max_images=settings.BATCH_JOB_MAX_IMAGES,
        # A selection goes in parts that each fit one request's limits (a file larger
        # than a part's bytes goes alone; its own limit is API_MAX_UPLOAD_BYTES).
        part_files=min(settings.API_MAX_FILES, PART_FILES),
        part_bytes=max(
            min(settings.API_MAX_REQUEST_BYTES - PART_FRAMING_BYTES, PART_BYTES),
            settings.API_MAX_UPLOAD_BYTES,
        ),
        quota=_quota(request, "batch-quota", images=True),
    )


def _quota(request: HttpRequest, element_id: str, *, images: bool) -> dict:
    """The visitor's limits and what they use of them (jobs.quotas), in words."""
    caller = quotas.caller_of(request)
    limits, used = quotas.limits_for(caller), quotas.usage(caller)
    lines = []
    if images and limits["queued_images"]:
        lines.append(f"{used['queued_images']:,} of {limits['queued_images']:,} images waiting")
    if limits["active_jobs"]:
        lines.append(f"{used['active_jobs']} of {limits['active_jobs']} jobs queued or running")
    return {"id": element_id, "lines": lines}


def _class_labels(request: HttpRequest) -> list[str]:
    """Every class a filter could ask for: the production model's and any predicted
    among the visitor's predictions."""
    production = ModelVersion.production()
    labels = set(production.class_names if production else [])
    predicted = _predictions_seen_by(request).values_list("top_label", flat=True)
    labels.update(predicted.order_by().distinct())
    return sorted(labels)


@readable
def history(request: HttpRequest) -> HttpResponse:
    return _page(
        request,
        "history.html",
        "history",
        labels=_class_labels(request),
        sources=Prediction.Source.choices,
        versions=ModelVersion.objects.values_list("number", flat=True),
    )


@readable
def training_data(request: HttpRequest) -> HttpResponse:
    return _page(
        request,
        "training_data.html",
        "training-data",
        labels=known_labels(),
        splits=TrainingImage.Split.choices,
        can_upload=request.user.has_perm("training.add_trainingimage"),
        can_see_images=sees_everything(request.user, "training.view_trainingimage"),
        max_files=settings.API_MAX_FILES,
        max_upload_bytes=settings.API_MAX_UPLOAD_BYTES,
    )


@readable
def retrain(request: HttpRequest) -> HttpResponse:
    return _page(
        request,
        "retrain.html",
        "retrain",
        can_retrain=request.user.has_perm("jobs.add_job"),
        quota=_quota(request, "retrain-quota", images=False),
        show_submitters=request.user.is_staff,
        included_train_images=TrainingImage.objects.filter(
            split=TrainingImage.Split.TRAIN, status=TrainingImage.Status.INCLUDED
        ).count(),
        first_knobs=[_knob_input(knob) for knob in recipe.KNOBS if knob.name in FIRST_KNOBS],
        more_knobs=[_knob_input(knob) for knob in recipe.KNOBS if knob.name not in FIRST_KNOBS],
    )


def _knob_input(knob: recipe.Knob) -> dict:
    """What the retrain form's input for a recipe knob shows, from its declaration.
    Numbers are written as Python writes them (a valid HTML number, never localised)."""
    return {
        "name": knob.name,
        "id": "retrain-" + knob.name.replace("_", "-"),
        "label": knob.name.replace("_", " ").capitalize(),
        "help": knob.sentence,
        "kind": "checkbox" if knob.type is bool else "select" if knob.choices else "number",
        "default": str(knob.default),
        "checked": knob.default is True,
        "choices": knob.choices,
        "min": str(knob.minimum),
        "max": str(knob.maximum),
        "step": "1" if knob.type is int else "any",
    }


@readable
def models(request: HttpRequest) -> HttpResponse:
    return _page(
        request,
        "models.html",
        "models",
        versions=ModelVersion.objects.all(),
        can_promote=request.user.has_perm("training.change_modelversion"),
    )


def _per_class_rows(metrics: dict) -> list[dict]:
    return [
        {"label": label, **values} for label, values in (metrics.get("per_class") or {}).items()
    ]


def _confusion_rows(metrics: dict) -> list[dict]:
    """Each true class's row, every cell with its share of that row (for shading)."""
    names, matrix = metrics.get("class_names") or [], metrics.get("confusion_matrix") or []
    rows: list[dict] = []
    for true_label, counts in zip(names, matrix, strict=False):
        total = sum(counts) or 1
        cells = [
            {
                "count": count,
                "share": round(count / total, 3),
                "correct": index == len(rows),
                "dark": count / total > DARK_CELL_SHARE,
            }
            for index, count in enumerate(counts)
        ]
        rows.append({"label": true_label, "cells": cells, "total": sum(counts)})
    return rows


@readable
def model_version(request: HttpRequest, number: int) -> HttpResponse:
    """One version's evaluation on the test split: metrics, per-class table,
    confusion matrix, and whichever of its plots exist."""
    version = get_object_or_404(ModelVersion, number=number)
    suffix = f"_v{number}"
    version_plots = Visualization.objects.filter(name__endswith=suffix)
    plots = {plot.name: plot for plot in visible_plots(request.user, version_plots)}
    ordered = [plots.pop(name + suffix) for name in VERSION_PLOTS if name + suffix in plots]
    return _page(
        request,
        "model_version.html",
        "models",
        version=version,
        metrics=version.metrics,
        per_class=_per_class_rows(version.metrics),
        confusion=_confusion_rows(version.metrics),
        class_names=version.metrics.get("class_names") or version.class_names,
        plots=ordered + sorted(plots.values(), key=lambda plot: plot.name),
        can_promote=request.user.has_perm("training.change_modelversion"),
        can_evaluate=request.user.has_perm("jobs.add_job"),
    )


def _version_number(plot: Visualization) -> int:
    return int(plot.name.rsplit("_v", 1)[1])


@readable
def visualizations(request: HttpRequest) -> HttpResponse:
    """The dataset plots, then every version's training curves, newest first."""
    dataset_plots = Visualization.objects.filter(name__in=DATASET_PLOTS)
    dataset = {plot.name: plot for plot in visible_plots(request.user, dataset_plots)}
    curves = Visualization.objects.filter(name__regex=r"^training_curves_v[0-9]+$")
    return _page(
        request,
        "visualizations.html",
        "visualizations",
        dataset_plots=[dataset[name] for name in DATASET_PLOTS if name in dataset],
        training_curves=sorted(curves, key=_version_number, reverse=True),
    )


def media_file(request: HttpRequest, path: str) -> HttpResponseBase:
    """A stored image, for a URL signed by classifier_site.media (made only for rows
    the caller may see) that has not expired. Django streams the file itself, or,
    with MEDIA_ACCEL_REDIRECT, hands it to the web server's internal location."""
    left = media.seconds_left(path, request.GET.get("expires"), request.GET.get("signature"))
    if left is None:
        return JsonResponse(
            {"detail": "this image link is invalid or has expired; reload the page"},
            status=403,
        )
    if not Path(safe_join(settings.MEDIA_ROOT, path)).is_file():  # refuses ../
        return JsonResponse({"detail": "no such image"}, status=404)
    response: HttpResponseBase
    if settings.MEDIA_ACCEL_REDIRECT:
        response = HttpResponse()
        del response["Content-Type"]  # the web server sets the file's own
        response["X-Accel-Redirect"] = settings.MEDIA_ACCEL_REDIRECT + quote(path)
    else:
        response = serve(request, path, document_root=str(settings.MEDIA_ROOT))
    # Only this caller's browser may keep it, and not beyond the link's expiry.
    response["Cache-Control"] = f"private, max-age={left}"
    return response
