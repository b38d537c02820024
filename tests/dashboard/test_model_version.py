import pytest
from django.core.files.base import ContentFile

from training.models import ModelVersion, Visualization

pytestmark = pytest.mark.django_db

METRICS = {
    "accuracy": 0.625,
    "f1_macro": 0.61,
    "count": 8,
    "class_names": ["cat", "dog"],
    "confusion_matrix": [[3, 1], [2, 2]],
    "per_class": {
        "cat": {"precision": 0.6, "recall": 0.75, "f1": 0.667, "roc_auc": 0.81, "support": 4},
        "dog": {"precision": 0.667, "recall": 0.5, "f1": 0.571, "roc_auc": None, "support": 4},
    },
}


def version(number: int, metrics=None) -> ModelVersion:
    return ModelVersion.objects.create(
        number=number, artifact_path=f"v{number}", dataset_fingerprint="0",
        metrics=metrics or {}, class_names=["cat", "dog"],
    )  # fmt: skip


def plot(name: str, title: str) -> Visualization:
    return Visualization.objects.create(
        name=name, title=title, image=ContentFile(b"png", name=f"{name}.png"),
        interpretation=f"what {name} shows",
    )  # fmt: skip


def test_metrics_per_class_table_and_confusion_matrix_with_row_shares(client):
    version(1, METRICS)
    content = client.get("/models/1/").content.decode()
    assert "<dt>Accuracy</dt><dd>0.6250</dd>" in content
    assert '<th scope="row">dog</th>' in content and '<td class="number">0.571</td>' in content
    # A class without a defined ROC-AUC shows a dash, not "None".
    assert "None" not in content
    # Row "cat": 3 of 4 right (the outlined diagonal), 1 of 4 as dog.
    assert '<td style="--share: 0.750" class="correct dark">3</td>' in content
    assert '<td style="--share: 0.250" class="">1</td>' in content


def test_only_this_versions_plots_in_the_evaluation_order(client):
    version(1, METRICS)
    plot("training_curves_v1", "Training curves of version 1")
    plot("confusion_matrix_v1", "Confusion matrix of version 1")
    plot("confusion_matrix_v11", "Confusion matrix of version 11")
    plot("class_distribution", "Images per class")
    content = client.get("/models/1/").content.decode()
    assert "version 11" not in content and "Images per class" not in content
    assert content.index("Confusion matrix of version 1") < content.index("Training curves of")
    assert "what confusion_matrix_v1 shows" in content


def test_a_version_without_metrics_or_plots_says_so(client):
    version(2)
    content = client.get("/models/2/").content.decode()
    assert "This version has no test metrics." in content
    assert 'id="no-plots"' in content


def test_unknown_version_is_a_404(client):
    assert client.get("/models/9/").status_code == 404


def test_promote_and_evaluate_buttons_follow_permissions(client, sign_in):
    version(1, METRICS)
    content = client.get("/models/1/").content.decode()
    assert 'id="promote"' not in content and 'id="evaluate"' not in content
    sign_in("change_modelversion", "add_job")
    content = client.get("/models/1/").content.decode()
    assert 'id="promote" data-url="/api/v1/model-versions/1/promote/"' in content
    assert 'id="evaluate" data-url="/api/v1/model-versions/1/evaluate/"' in content
