"""The Celery application, as in Celery's Django example.

Workers import only Django and the task modules here; TensorFlow is imported
lazily inside the task code, so only the pool's child processes ever load it.
"""

import os

from celery import Celery
from celery.result import AsyncResult
from celery.signals import task_prerun, worker_init
from django.conf import settings
from django.db import close_old_connections

from classifier_site.cpu_priority import lower_cpu_priority

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
    close_old_connections()


@worker_init.connect
def set_cpu_priority(**kwargs) -> None:
    """Job workers (WORKER_NICENESS) yield the CPU to the web and to single
    predictions; set in the parent, before the pool forks, so every pool process has it."""
    lower_cpu_priority(settings.WORKER_NICENESS)


def send(name: str, *args, ignore_result: bool = True, **options) -> AsyncResult:
    """Queue the task called `name`, routed as CELERY_TASK_ROUTES says.

    Services queue work by name (each app's enqueue.py), never by importing a tasks
    module: tasks call services, so an import the other way would close a circle.
    Jobs report through their rows, so their results are not kept; only a caller
    that waits for the answer (a single prediction) passes ignore_result=False."""
    return app.send_task(name, args=args, ignore_result=ignore_result, **options)
