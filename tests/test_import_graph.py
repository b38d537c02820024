"""The product's modules import one another without circles, and import inside a
function only where a process must be kept from loading something (TensorFlow, the
plotting stack) or where Django or DRF loading demands it: each such import is
listed here with its reason, and says why in a comment."""

import pytest

from tests.architecture import build_graph, circles, function_imports

TENSORFLOW = "TensorFlow loads in the pool process that uses it, never in a parent"
PLOTTING = "matplotlib and scipy (about 80 MB) load in the plotting pool process only"
APP_LOADING = "models can be imported only once Django has loaded the apps"

# (file, function, imported module): why it is imported inside the function.
ALLOWED_IMPORTS_IN_FUNCTIONS = {
    ("classifier_site/api.py", "exception_handler", "rest_framework.views"): (
        "rest_framework.views reads DEFAULT_PERMISSION_CLASSES, a class of this module"
    ),
    ("classifier_site/container_probe.py", "check_worker", "celery.utils.nodenames"): (
        "a web or beat container's probe never loads Celery or Django's settings"
    ),
    ("classifier_site/container_probe.py", "check_worker", "classifier_site.celery"): (
        "a web or beat container's probe never loads Celery or Django's settings"
    ),
    ("ml_core/artifacts.py", "inference_only_copy", "keras"): TENSORFLOW,
    ("ml_core/artifacts.py", "save_untrained_model", "ml_core.model"): TENSORFLOW,
    ("predictions/apps.py", "ready", "jobs"): APP_LOADING,
    ("predictions/apps.py", "ready", "jobs.models"): APP_LOADING,
    ("predictions/apps.py", "ready", "predictions.batch"): APP_LOADING,
    ("predictions/inference.py", "predictor", "ml_core.predictor"): TENSORFLOW,
    ("predictions/inference.py", "_configure_tensorflow", "tensorflow"): TENSORFLOW,
    ("training/apps.py", "ready", "jobs"): APP_LOADING,
    ("training/apps.py", "ready", "jobs.models"): APP_LOADING,
    ("training/apps.py", "ready", "training.enqueue"): APP_LOADING,
    ("training/management/commands/evaluate_model.py", "handle", "training.pipeline"): TENSORFLOW,
    ("training/management/commands/train_model.py", "handle", "training.pipeline"): TENSORFLOW,
    ("training/tasks.py", "run_training_job", "training.retraining"): TENSORFLOW,
    ("training/tasks.py", "run_evaluation_job", "training.retraining"): TENSORFLOW,
    ("training/tasks.py", "generate_dataset_plots", "training.visualizations"): PLOTTING,
    ("training/tasks.py", "generate_training_plot", "training.visualizations"): PLOTTING,
    ("training/tasks.py", "generate_evaluation_plots", "training.visualizations"): PLOTTING,
    ("training/visualizations.py", "generate_evaluation_plots", "training.pipeline"): TENSORFLOW,
}

# What predictions may use of training: the model registry and training images
# (models), adding images to the training set (imports), and the label form.
TRAINING_PUBLIC_MODULES = {"training.models", "training.imports", "training.forms"}


@pytest.fixture(scope="module")
def graph():
    return build_graph()


def test_no_product_module_is_part_of_an_import_circle(graph):
    assert circles(graph) == []


def test_an_import_closing_a_circle_is_found(graph):
    """What the test above would report if a service imported its tasks again."""
    graph.add_import(importer="predictions.batch", imported="predictions.tasks")
    try:
        assert ["predictions.batch", "predictions.tasks"] in circles(graph)
    finally:
        graph.remove_import(importer="predictions.batch", imported="predictions.tasks")


def test_imports_inside_functions_are_only_the_listed_ones_and_say_why():
    found = function_imports()
    keys = {(item.path, item.function, item.imported) for item in found}
    assert keys - ALLOWED_IMPORTS_IN_FUNCTIONS.keys() == set(), "not allowed: import it above"
    assert ALLOWED_IMPORTS_IN_FUNCTIONS.keys() - keys == set(), "gone: drop it from the list"
    assert [f"{item.path}:{item.line}" for item in found if not item.commented] == []


def test_no_module_imports_a_tasks_module(graph):
    """Services queue tasks by name (each app's enqueue.py); Celery finds the tasks."""
    tasks_modules = {module for module in graph.modules if module.endswith(".tasks")}
    importers = {
        importer: tasks
        for tasks in tasks_modules
        for importer in graph.find_modules_that_directly_import(tasks)
    }
    assert importers == {}


def importers_of(graph, imported_package: str, importer_package: str) -> set[str]:
    return {
        f"{importer} -> {imported}"
        for importer in graph.find_children(importer_package)
        | {importer_package}
        | graph.find_descendants(importer_package)
        for imported in graph.find_modules_directly_imported_by(importer)
        if imported == imported_package or imported.startswith(imported_package + ".")
    }


def test_the_jobs_app_imports_neither_training_nor_predictions(graph):
    assert importers_of(graph, "training", "jobs") == set()
    assert importers_of(graph, "predictions", "jobs") == set()


def test_training_never_imports_predictions(graph):
    assert importers_of(graph, "predictions", "training") == set()


def test_predictions_uses_only_the_public_modules_of_training(graph):
    used = {line.split(" -> ")[1] for line in importers_of(graph, "training", "predictions")}
    assert used <= TRAINING_PUBLIC_MODULES
