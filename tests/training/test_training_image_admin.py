"""Curating training images in the admin: thumbnails, preview, bulk actions (real DB)."""

import pytest
from django.contrib.auth.models import Permission, User

from tests.workers import clear_queues, queued_tasks
from training.models import TrainingImage

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/training/trainingimage/"


@pytest.fixture
def curator(client, db):
    user = User.objects.create_user("curator", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_trainingimage", "change_trainingimage"])
    )
    client.force_login(user)
    return user


def ids(**filters) -> list[int]:
    return list(TrainingImage.objects.filter(**filters).order_by("id").values_list("id", flat=True))


def act(client, action: str, selected: list[int], query: str = "", **extra):
    data = {"action": action, "_selected_action": selected, "index": 0, **extra}
    return client.post(f"{CHANGELIST}{query}", data, follow="apply" in extra)


def test_list_shows_thumbnails_and_filters(client, curator, curated_small, settings):
    content = client.get(f"{CHANGELIST}?label=cat&split=test").content.decode()
    assert content.count('style="image-rendering: pixelated') == 8
    assert '<img src="/media/training/' in content
    for name in ["By label", "By split", "By status", "By source"]:
        assert name in content


def test_search_by_original_name(client, curator, curated_small):
    response = client.get(f"{CHANGELIST}?q=cifar-test-00003")
    assert response.context["cl"].result_count == 1


def test_change_page_shows_a_large_preview(client, curator, curated_small):
    image = TrainingImage.objects.first()
    content = client.get(f"{CHANGELIST}{image.pk}/change/").content.decode()
    assert f'<img src="/media/{image.image.name}?expires=' in content  # signed, expiring
    assert 'width="256" height="256"' in content


def test_relabel_asks_for_the_label_then_applies_it(client, curator, curated_small):
    chosen = ids(label="cat", split="train")[:3]
    form = act(client, "relabel", chosen)
    assert form.status_code == 200
    page = form.content.decode()
    assert "3 training images chosen" in page
    assert page.count('name="_selected_action"') == 3  # carried to the second step
    assert '<option value="truck">' in page  # known classes offered
    done = act(client, "relabel", chosen, label="dog", apply="Apply")
    assert "Relabelled 3 image(s) as “dog”." in done.content.decode()
    assert set(TrainingImage.objects.filter(id__in=chosen).values_list("label", flat=True)) == {
        "dog"
    }
    assert len(ids(label="cat")) == 28 - 3


def test_relabel_refuses_an_unknown_class_unless_asked_for(client, curator, curated_small):
    chosen = ids(label="cat")[:2]
    refused = act(client, "relabel", chosen, label="zebra", apply="Apply")
    assert "unknown class &#x27;zebra&#x27;" in refused.content.decode()
    assert not TrainingImage.objects.filter(label="zebra").exists()
    act(client, "relabel", chosen, label="zebra", new_class="on", apply="Apply")
    assert ids(label="zebra") == chosen


def test_relabel_everything_a_filter_selects(client, curator, curated_small):
    page_of_ids = ids(label="cat", split="test")[:1]
    act(
        client, "relabel", page_of_ids, query="?label=cat&split=test",
        select_across="1", label="dog", apply="Apply",
    )  # fmt: skip
    assert ids(label="cat", split="test") == []
    assert len(ids(label="cat", split="train")) == 20  # outside the filter: untouched


def test_exclude_include_and_move_split(client, curator, curated_small):
    chosen = ids(label="frog", split="train")[:4]
    response = act(client, "exclude_from_training", chosen)
    assert ids(status="excluded") == chosen
    assert response.status_code == 302
    act(client, "move_to_test", chosen)
    assert ids(split="test", label="frog") == sorted(ids(label="frog", split="test"))
    assert set(chosen) <= set(ids(split="test"))
    act(client, "include_in_training", chosen[:2])
    act(client, "move_to_train", chosen[:2])
    assert ids(status="excluded") == chosen[2:]
    assert set(chosen[:2]) <= set(ids(split="train", status="included"))


def test_viewers_get_no_bulk_actions(client, curated_small):
    user = User.objects.create_user("viewer", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_trainingimage"))
    client.force_login(user)
    content = client.get(CHANGELIST).content.decode()
    assert "Relabel selected images" not in content
    act(client, "exclude_from_training", ids()[:1])
    assert ids(status="excluded") == []


def test_a_bulk_action_that_changes_images_redraws_the_dataset_plots_once(
    client, curator, curated_small, django_capture_on_commit_callbacks
):
    clear_queues("training")
    chosen = ids(label="cat", split="train")[:3]
    with django_capture_on_commit_callbacks(execute=True):
        act(client, "exclude_from_training", chosen)
    with django_capture_on_commit_callbacks(execute=True):
        act(client, "exclude_from_training", chosen)  # nothing changes the second time
    assert queued_tasks("training") == ["training.tasks.generate_dataset_plots"]
    clear_queues("training")
