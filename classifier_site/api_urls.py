"""/api/v1/: every resource and verb of the REST API."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from classifier_site.health import LivenessView, ReadinessView
from predictions.api.views import BatchJobViewSet, PredictionViewSet, PredictManyView, PredictView
from training.api.views import (
    ModelInfoView,
    ModelVersionViewSet,
    TrainingImageViewSet,
    TrainingJobViewSet,
    VisualizationViewSet,
)

router = DefaultRouter()
router.register("predictions", PredictionViewSet, basename="prediction")
router.register("batch-jobs", BatchJobViewSet, basename="batch-job")
router.register("model-versions", ModelVersionViewSet, basename="model-version")
router.register("training-images", TrainingImageViewSet, basename="training-image")
router.register("training-jobs", TrainingJobViewSet, basename="training-job")
router.register("visualizations", VisualizationViewSet, basename="visualization")

urlpatterns = [
    path("health/live/", LivenessView.as_view(), name="health-live"),
    path("health/ready/", ReadinessView.as_view(), name="health-ready"),
    path("model/", ModelInfoView.as_view(), name="model-info"),
    path("predict/", PredictView.as_view(), name="predict"),
    path("predict/many/", PredictManyView.as_view(), name="predict-many"),
    *router.urls,
]
