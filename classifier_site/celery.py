"""The Celery application, as in Celery's Django example.

Workers import only Django and the task modules here; TensorFlow is imported
lazily inside the task code, so only the pool's child processes ever load it.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "classifier_site.settings")

app = Celery("classifier_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
