"""What every dashboard page promises: it renders for a visitor and for a curator,
carries the CSRF token for its scripts, fits a phone's viewport, labels every form
control, and loads only scripts that exist."""

import re

import pytest
from django.contrib.staticfiles import finders

from tests.dashboard.page_reading import unlabelled_controls
from training.models import ModelVersion

PAGES = [
    "/",
    "/predict/",
    "/batch/",
    "/history/",
    "/training-data/",
    "/retrain/",
    "/models/",
    "/models/1/",
    "/visualizations/",
    "/accounts/login/",
]
EVERY_PERMISSION = ["add_trainingimage", "change_trainingimage", "add_job", "change_modelversion"]


METRICS = {
    "accuracy": 0.5,
    "class_names": ["cat", "dog"],
    "confusion_matrix": [[3, 1], [2, 4]],
    "per_class": {
        "cat": {"precision": 0.6, "recall": 0.75, "f1": 0.67, "roc_auc": 0.8, "support": 4},
        "dog": {"precision": 0.8, "recall": 0.67, "f1": 0.73, "roc_auc": 0.8, "support": 6},
    },
}


@pytest.fixture
def version(db):
    return ModelVersion.objects.create(
        number=1, artifact_path="v1", status="production", dataset_fingerprint="0",
        metrics=METRICS, class_names=["cat", "dog"],
    )  # fmt: skip


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("visitor", ["anonymous", "curator"])
def test_page_renders_with_csrf_viewport_labels_and_existing_scripts(
    client, sign_in, version, path, visitor
):
    if visitor == "curator":
        sign_in(*EVERY_PERMISSION, staff=True)
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r'<meta name="csrf-token" content="[^"]{32,}">', html)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert unlabelled_controls(html) == []
    for script in re.findall(r'<script type="module" src="/static/([^"]+)"', html):
        assert finders.find(script), f"{path} loads a missing script {script}"


def test_the_label_check_can_fail():
    assert unlabelled_controls('<input id="a" name="a"><label for="b">B</label>') == [
        "<input name='a' id='a'>"
    ]
    assert unlabelled_controls('<label>A <input name="a"></label>') == []


@pytest.mark.parametrize("path", [path for path in PAGES if path != "/accounts/login/"])
def test_pages_ask_for_a_login_when_reading_is_not_open(client, version, settings, path):
    settings.API_ANONYMOUS_READ = settings.API_ANONYMOUS_PREDICT = False
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"
