import io
import zipfile

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile

from classifier_site.media import TRAINING_SCOPE, stored_name
from ml_core.preprocessing import encode_png
from tests.api.conftest import client_for
from tests.workers import clear_queues, queued_tasks
from training.models import TrainingImage

pytestmark = pytest.mark.django_db


@pytest.fixture
def curator(db):
    user = User.objects.create_user("curator")
    user.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["add_trainingimage", "change_trainingimage", "view_trainingimage"]
        )
    )
    return client_for(user)


def pngs(mini_dataset, start: int, count: int) -> list[SimpleUploadedFile]:
    return [
        SimpleUploadedFile(f"{index}.png", encode_png(mini_dataset.train.images[index]))
        for index in range(start, start + count)
    ]


def upload(client, **data):
    return client.post("/api/v1/training-images/", data, format="multipart")


def test_upload_files_with_a_label(curator, mini_dataset):
    response = upload(curator, images=pngs(mini_dataset, 0, 3), label="cat", new_class=True)
    assert response.status_code == 201, response.content
    assert response.json() == {"created": 3, "already_present": 0, "rejected": []}
    assert set(TrainingImage.objects.values_list("label", "split", "source")) == {
        ("cat", "train", "upload")
    }
    again = upload(curator, images=pngs(mini_dataset, 0, 3), label="cat")
    assert again.json() == {"created": 0, "already_present": 3, "rejected": []}


def test_a_train_split_upload_queues_the_dataset_plots_for_the_training_worker(
    curator, mini_dataset, django_capture_on_commit_callbacks
):
    clear_queues("training", "inference")
    with django_capture_on_commit_callbacks(execute=True):
        upload(curator, images=pngs(mini_dataset, 0, 2), label="cat", new_class=True)
        upload(curator, images=pngs(mini_dataset, 2, 2), label="cat", split="test")
        upload(curator, images=pngs(mini_dataset, 0, 2), label="cat")  # nothing new
    assert queued_tasks("training") == ["training.tasks.generate_dataset_plots"]
    assert queued_tasks("inference") == []
    clear_queues("training")


def test_non_images_are_listed_as_rejected(curator, mini_dataset):
    files = [*pngs(mini_dataset, 0, 1), SimpleUploadedFile("notes.png", b"text")]
    body = upload(curator, images=files, label="cat", new_class=True).json()
    assert body["created"] == 1
    assert body["rejected"] == ["notes.png: not an image format that can be decoded"]


def test_unknown_class_needs_new_class(curator, curated_small, mini_dataset):
    # A valid label naming no class yet: a 409 (the training set's state), not a 400,
    # so that a request the schema calls valid is never refused as invalid input.
    response = upload(curator, images=pngs(mini_dataset, 0, 1), label="zebra")
    assert response.status_code == 409
    assert "unknown class 'zebra'" in response.json()["errors"]["label"][0]


@pytest.mark.parametrize("label", ["../../etc", "cat/dog", "cat\\dog", "", "-lead", "a" * 65])
def test_labels_with_path_separators_or_odd_characters_are_refused(curator, mini_dataset, label):
    response = upload(curator, images=pngs(mini_dataset, 0, 1), label=label, new_class=True)
    assert response.status_code == 400
    assert TrainingImage.objects.count() == 0


def test_zip_of_class_folders(curator, mini_dataset):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("cat/a.png", encode_png(mini_dataset.train.images[0]))
        archive.writestr("dog/b.png", encode_png(mini_dataset.train.images[1]))
    archive = SimpleUploadedFile("pets.zip", buffer.getvalue())
    body = upload(curator, archive=archive, split="test").json()
    assert body["created"] == 2
    assert sorted(TrainingImage.objects.values_list("label", "split")) == [
        ("cat", "test"), ("dog", "test"),
    ]  # fmt: skip


def test_corrupt_zip_is_a_400(curator):
    response = upload(curator, archive=SimpleUploadedFile("x.zip", b"PK\x03\x04junk"))
    assert response.status_code == 400
    assert "x.zip: not a valid zip" in response.json()["errors"]["archive"][0]


def test_anonymous_and_unprivileged_users_cannot_upload(api, viewer, mini_dataset):
    assert upload(api, images=pngs(mini_dataset, 0, 1), label="cat").status_code == 401
    assert upload(viewer, images=pngs(mini_dataset, 0, 1), label="cat").status_code == 403


def test_list_filters_and_relabel_or_exclude(curator, curated_small):
    cats = curator.get("/api/v1/training-images/?label=cat&split=train").json()
    assert cats["count"] == 20
    image_id = cats["results"][0]["id"]
    response = curator.patch(
        f"/api/v1/training-images/{image_id}/", {"label": "dog", "status": "excluded"}
    )
    assert response.status_code == 200, response.content
    image = TrainingImage.objects.get(pk=image_id)
    assert (image.label, image.status) == ("dog", "excluded")
    unknown = curator.patch(f"/api/v1/training-images/{image_id}/", {"label": "unicorn"})
    assert unknown.status_code == 409  # no such class yet (new_class adds one)
    bad = curator.patch(f"/api/v1/training-images/{image_id}/", {"label": "uni/corn"})
    assert bad.status_code == 400
    assert curator.put(f"/api/v1/training-images/{image_id}/", {}).status_code == 405


def test_counts_per_class_split_and_status_with_the_lists_filters(api, curated_small):
    five = TrainingImage.objects.filter(label="cat", split="train").values_list("id", flat=True)[:5]
    TrainingImage.objects.filter(id__in=list(five)).update(status="excluded")
    body = api.get("/api/v1/training-images/counts/").json()
    assert body["total"] == 280
    rows = {(row["label"], row["split"], row["status"]): row["count"] for row in body["counts"]}
    assert rows[("cat", "train", "included")] == 15
    assert rows[("cat", "train", "excluded")] == 5
    assert rows[("dog", "test", "included")] == 8
    assert api.get("/api/v1/training-images/counts/?split=test").json()["total"] == 80


def test_listed_images_link_to_their_stored_file_by_a_signed_url(curator, curated_small):
    row = curator.get("/api/v1/training-images/?label=cat").json()["results"][0]
    name = stored_name("training", TRAINING_SCOPE, row["sha256"], "png")
    assert row["image_url"].startswith(f"http://testserver/media/{name}?expires=")
    assert row["sha256"] not in row["image_url"]  # the name tells nothing of the content
    assert curator.get(row["image_url"]).status_code == 200
    assert curator.get(row["image_url"].split("?")[0]).status_code == 403


def test_the_images_are_seen_by_staff_and_view_permission_holders_only(api, viewer, curated_small):
    """Corrected predictions bring users' own uploads into the training set: the
    images are curated data, not public. Their counts stay open to every reader."""
    image = TrainingImage.objects.first()
    for client in (api, viewer):
        assert client.get("/api/v1/training-images/").status_code in {401, 403}
        assert client.get(f"/api/v1/training-images/{image.pk}/").status_code in {401, 403}
        assert client.get("/api/v1/training-images/counts/").json()["total"] == 280
    auditor = User.objects.create_user("auditor")
    auditor.user_permissions.add(Permission.objects.get(codename="view_trainingimage"))
    for user in (auditor, User.objects.create_user("staff", is_staff=True)):
        assert client_for(user).get("/api/v1/training-images/").json()["count"] == 280


def class_zip(files: dict[str, bytes]) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return SimpleUploadedFile("classes.zip", buffer.getvalue())


def new_pngs(mini_dataset, count: int) -> list[bytes]:
    """Images that are not in curated_small."""
    return [encode_png(pixels) for pixels in mini_dataset.test.images[500 : 500 + count]]


def test_a_zip_with_a_folder_of_an_unknown_class_is_refused_unless_new_class(
    curator, curated_small, mini_dataset
):
    cat, zebra = new_pngs(mini_dataset, 2)
    files = {"cat/a.png": cat, "zebra/b.png": zebra}
    refused = upload(curator, archive=class_zip(files))
    assert refused.status_code == 409
    message = refused.json()["errors"]["archive"][0]
    assert "unknown class 'zebra'" in message and "new_class=true" in message
    assert TrainingImage.objects.count() == 280  # not even the cat
    accepted = upload(curator, archive=class_zip(files), new_class=True)
    assert accepted.status_code == 201, accepted.content
    assert accepted.json()["created"] == 2
    assert TrainingImage.objects.filter(label="zebra").count() == 1


def test_a_zip_folder_whose_name_ends_in_a_newline_is_rejected(curator, mini_dataset):
    first, second = new_pngs(mini_dataset, 2)
    body = upload(curator, archive=class_zip({"cat\n/a.png": first, "dog/b.png": second})).json()
    assert body["created"] == 1
    assert len(body["rejected"]) == 1 and "is not a valid label" in body["rejected"][0]
    assert list(TrainingImage.objects.values_list("label", flat=True)) == ["dog"]


def test_relabel_to_a_new_class_needs_new_class(curator, curated_small):
    image = TrainingImage.objects.filter(label="cat").first()
    url = f"/api/v1/training-images/{image.pk}/"
    assert curator.patch(url, {"label": "lynx"}, format="json").status_code == 409
    response = curator.patch(url, {"label": "lynx", "new_class": True}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["label"] == "lynx" and "new_class" not in response.json()
    assert TrainingImage.objects.get(pk=image.pk).label == "lynx"
