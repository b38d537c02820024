import io
import zipfile
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from harness.hostile_inputs import lying_size_zip
from tests.stored_images import photo_with_metadata, png_with_metadata, sha256, stored_problems
from training.models import TrainingImage


def image_bytes(color, fmt="PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (24, 24), color).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture
def class_zip(tmp_path):
    path = tmp_path / "pets.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("pets/cat/red.png", image_bytes((255, 0, 0)))
        archive.writestr("pets/cat/green.jpg", image_bytes((0, 255, 0), "JPEG"))
        archive.writestr("pets/dog/blue.webp", image_bytes((0, 0, 255), "WEBP"))
        archive.writestr("pets/dog/notes.png", b"text with an image extension")
        archive.writestr("pets/bad$label/x.png", image_bytes((9, 9, 9)))
    return path


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_images", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_zip_of_class_folders_imports_decodable_images_with_folder_labels(class_zip):
    out, err = run(str(class_zip))
    assert "Imported 3 new images into the train split; 0 already present; 2 rejected." in out
    assert "dog/notes.png: not an image format that can be decoded" in err
    assert "bad$label/x.png: 'bad$label' is not a valid label" in err
    rows = {(row.label, row.image.name.rsplit(".", 1)[1]) for row in TrainingImage.objects.all()}
    # Stored copies keep the format family: JPEG stays JPEG, anything else is PNG.
    assert rows == {("cat", "png"), ("cat", "jpg"), ("dog", "png")}
    assert set(TrainingImage.objects.values_list("source", flat=True)) == {"folder"}


@pytest.mark.django_db
def test_second_import_adds_nothing(class_zip):
    run(str(class_zip))
    out, _ = run(str(class_zip))
    assert "Imported 0 new images into the train split; 3 already present" in out
    assert TrainingImage.objects.count() == 3


@pytest.mark.django_db
def test_folder_import_into_the_test_split(tmp_path):
    (tmp_path / "ship").mkdir()
    (tmp_path / "ship" / "a.png").write_bytes(image_bytes((1, 2, 3)))
    run(str(tmp_path), "--split", "test")
    row = TrainingImage.objects.get()
    assert (row.label, row.split, row.original_name) == ("ship", "test", "a.png")


@pytest.mark.django_db
def test_missing_path_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="no such file or folder"):
        run(str(tmp_path / "absent.zip"))


def class_folders(root, files: dict[str, bytes]):
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    return root


def as_zip(path, files: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return path


@pytest.mark.django_db
@pytest.mark.parametrize("layout", [class_folders, as_zip], ids=["folder", "zip"])
def test_a_folder_of_an_unknown_class_is_refused_without_new_class(tmp_path, layout):
    run(str(class_folders(tmp_path / "first", {"cat/a.png": image_bytes((1, 1, 1))})))
    files = {"cat/b.png": image_bytes((2, 2, 2)), "zebra/c.png": image_bytes((3, 3, 3))}
    source = layout(tmp_path / "second.zip" if layout is as_zip else tmp_path / "second", files)
    with pytest.raises(CommandError, match=r"unknown class 'zebra'.*--new-class"):
        run(str(source))
    assert TrainingImage.objects.count() == 1  # not even the cat
    out, _ = run(str(source), "--new-class")
    assert "Imported 2 new images" in out
    assert TrainingImage.objects.filter(label="zebra").count() == 1


@pytest.mark.django_db
def test_a_class_folder_whose_name_ends_in_a_newline_is_rejected(tmp_path):
    folder = class_folders(
        tmp_path, {"cat\n/a.png": image_bytes((1, 1, 1)), "dog/b.png": image_bytes((2, 2, 2))}
    )
    out, err = run(str(folder))
    assert "Imported 1 new images into the train split; 0 already present; 1 rejected." in out
    assert "is not a valid label" in err
    assert list(TrainingImage.objects.values_list("label", flat=True)) == ["dog"]


@pytest.mark.django_db
def test_imported_images_are_stored_upright_capped_and_without_metadata(tmp_path):
    uploads = {"photo.jpg": photo_with_metadata(), "scan.png": png_with_metadata()}
    folder = tmp_path / "dataset"
    (folder / "cat").mkdir(parents=True)
    for name, content in uploads.items():
        (folder / "cat" / name).write_bytes(content)
    run(str(folder))
    for row in TrainingImage.objects.all():
        upload = uploads[row.original_name]
        assert stored_problems(row.image.read(), upload) == [], row.original_name
        assert row.sha256 == sha256(upload)  # the identity: a second import adds nothing
    out, _ = run(str(folder))
    assert "Imported 0 new images into the train split; 2 already present" in out


@pytest.mark.django_db
def test_a_member_inflating_past_its_declared_size_stops_the_import(tmp_path):
    archive = tmp_path / "bomb.zip"
    archive.write_bytes(lying_size_zip(64 * 1024 * 1024))
    with pytest.raises(CommandError, match="cat/bomb.png inflates to more than the 10 bytes"):
        run(str(archive))
    assert not TrainingImage.objects.exists()
