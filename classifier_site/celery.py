"""The Celery application, as in Celery's Django example.

Workers import only Django and the task modules here; TensorFlow is imported
lazily inside the task code, so only the pool's child processes ever load it.
"""

import os

from celery import Celery
from celery.signals import task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "classifier_site.settings")

app = Celery("classifier_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
def replace_broken_database_connections(**kwargs) -> None:
    """What Django does before every request, before every task: a connection that
    failed (the database restarted) or outlived CONN_MAX_AGE is closed, and a kept one
    is health-checked on first use. Celery's own handling with CELERY_DB_REUSE_MAX
    skips this between recycles, so a restarted database failed every task until then.
    """
    from django.db import close_old_connections

    close_old_connections()
