"""Services queue tasks by name (training.enqueue, predictions.enqueue, the beat
schedule): every name is a registered task, routed to the queue its workers serve,
and keeps its result only when a caller waits for it."""

import pytest
from django.conf import settings

from classifier_site.celery import app
from predictions import enqueue as predictions_enqueue
from training import enqueue as training_enqueue

QUEUE_OF = {
    training_enqueue.RUN_TRAINING_JOB: "training",
    training_enqueue.RUN_EVALUATION_JOB: "training",
    training_enqueue.GENERATE_DATASET_PLOTS: "training",
    training_enqueue.GENERATE_TRAINING_PLOT: "training",
    training_enqueue.GENERATE_EVALUATION_PLOTS: "training",
    predictions_enqueue.PREDICT_BATCH_CHUNK: "batch",
    predictions_enqueue.PREDICT_IMAGES: "inference",
    "jobs.tasks.recover_stale_jobs": "inference",
    "predictions.tasks.purge_expired": "batch",
}


def names_used() -> set[str]:
    constants = [
        value
        for module in (training_enqueue, predictions_enqueue)
        for name, value in vars(module).items()
        if name.isupper() and isinstance(value, str)
    ]
    scheduled = [entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()]
    return {*constants, *scheduled}


@pytest.fixture(scope="module")
def registered():
    app.loader.import_default_modules()  # what a worker does at start: the tasks modules
    return app.tasks


def test_every_name_queued_is_a_registered_task(registered):
    assert names_used() == set(QUEUE_OF)
    assert {name for name in QUEUE_OF if name not in registered} == set()


@pytest.mark.parametrize("name", sorted(QUEUE_OF))
def test_each_name_is_routed_to_its_queue(name):
    route = app.amqp.router.route({}, name)
    assert route["queue"].name == QUEUE_OF[name]


def test_only_single_predictions_keep_their_result(registered):
    """send() keeps no result unless asked; the one task whose caller waits asks."""
    keeping = {name for name in QUEUE_OF if not registered[name].ignore_result}
    assert keeping == {predictions_enqueue.PREDICT_IMAGES}
