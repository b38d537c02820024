"""ml_core is a plain package: no Django, no Celery, no project apps."""

import ast
import subprocess
import sys
from pathlib import Path

ML_CORE = Path(__file__).resolve().parents[2] / "ml_core"
FORBIDDEN = ("django", "rest_framework", "celery", "classifier_site", "training", "predictions")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_no_ml_core_module_imports_django_celery_or_project_apps():
    offenders = {
        f"{path.name}: {module}"
        for path in ML_CORE.glob("*.py")
        for module in imported_modules(path)
        if module.split(".")[0] in FORBIDDEN
    }
    assert ML_CORE.joinpath("predictor.py").exists()
    assert offenders == set()


def test_data_preprocessing_and_evaluation_load_without_tensorflow_or_django():
    # The web process uses these; it must not pay for (or fork) TensorFlow.
    code = (
        "import sys, ml_core.datasets, ml_core.preprocessing, ml_core.evaluation, "
        "ml_core.artifacts\n"
        "loaded = [m for m in ('tensorflow', 'keras', 'django', 'celery') if m in sys.modules]\n"
        "print(','.join(loaded))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ML_CORE.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == ""


def test_the_web_process_never_imports_tensorflow():
    """Every URL's view, serializer and the Celery task modules load without it."""
    code = (
        "import os, sys, django\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'classifier_site.settings')\n"
        "django.setup()\n"
        "import classifier_site.urls, predictions.tasks, training.tasks\n"
        "from django.urls import get_resolver\n"
        "get_resolver().url_patterns\n"
        "print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ML_CORE.parent, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
