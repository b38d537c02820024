import io
import zipfile
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from PIL import Image

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
    assert rows == {("cat", "png"), ("cat", "jpg"), ("dog", "webp")}
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
