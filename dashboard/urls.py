from django.urls import path

from dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("", views.home, name="home"),
    path("predict/", views.predict, name="predict"),
    path("batch/", views.batch, name="batch"),
    path("history/", views.history, name="history"),
    path("training-data/", views.training_data, name="training-data"),
    path("retrain/", views.retrain, name="retrain"),
    path("models/", views.models, name="models"),
    path("models/<int:number>/", views.model_version, name="model-version"),
    path("visualizations/", views.visualizations, name="visualizations"),
]
