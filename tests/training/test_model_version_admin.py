import pytest
from django.contrib.auth.models import Permission, User

from training.models import ModelVersion

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/training/modelversion/"
METRICS = {
    "accuracy": 0.625,
    "f1_macro": 0.6,
    "count": 8,
    "class_names": ["cat", "dog"],
    "confusion_matrix": [[3, 1], [2, 2]],
    "per_class": {"cat": {"precision": 0.6, "recall": 0.75, "f1": 0.667, "support": 4}},
}


@pytest.fixture
def versions(db) -> list[int]:
    """Primary keys of version 1 (production) and version 2 (candidate)."""
    return [
        ModelVersion.objects.create(
            number=number, artifact_path=f"v{number}", status=status, dataset_fingerprint="0",
            metrics=METRICS, validation_metrics={"accuracy": 0.7},
        ).pk
        for number, status in [(1, "production"), (2, "candidate")]
    ]  # fmt: skip


@pytest.fixture
def operator(client, db):
    user = User.objects.create_user("operator", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_modelversion", "change_modelversion"])
    )
    client.force_login(user)
    return user


def test_list_shows_test_and_validation_metrics(client, operator, versions):
    content = client.get(CHANGELIST).content.decode()
    assert '<td class="field-test_accuracy">0.6250</td>' in content
    assert '<td class="field-validation_accuracy">0.7000</td>' in content


def test_the_page_is_read_only_with_metrics_laid_out(client, operator, versions):
    page = f"{CHANGELIST}{versions[1]}/change/"
    content = client.get(page).content.decode()
    assert 'name="_save"' not in content  # versions are immutable
    assert "<tr><th>cat</th><td>0.6000</td><td>0.7500</td>" in content
    assert "<tr><th>dog</th><td>2</td><td>2</td></tr>" in content  # a confusion-matrix row
    assert 'href="/models/2/"' in content
    assert client.post(page, {}).status_code == 403


def test_promote_action_promotes_exactly_one(client, operator, versions):
    data = {"action": "promote", "_selected_action": versions, "index": 0}
    response = client.post(CHANGELIST, data, follow=True)
    assert "Choose exactly one version" in response.content.decode()
    client.post(CHANGELIST, {**data, "_selected_action": [versions[1]]})
    assert ModelVersion.production().number == 2
    assert ModelVersion.objects.get(number=1).status == "retired"
