import hashlib
import http.server
import io
import pickle
import tarfile
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ml_core.archives import ZipLimits
from ml_core.datasets import (
    ClassFolderReader,
    DatasetError,
    display_name,
    download_cifar,
    load_cifar,
)

CLASS_NAMES = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip


def archive_members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {
            Path(member.name).name: tar.extractfile(member).read()
            for member in tar
            if member.isfile()
        }


def write_tar(path: Path, members: dict[str, bytes], folder: str = "cifar-10-batches-py") -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return path


def png_bytes(
    color: tuple[int, int, int], size: tuple[int, int] = (8, 8), fmt: str = "PNG"
) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format=fmt)
    return buffer.getvalue()


# --- CIFAR python archive ---------------------------------------------------------


def test_mini_archive_loads_every_batch_with_official_class_names(mini_archive):
    dataset = load_cifar(mini_archive)
    assert dataset.class_names == CLASS_NAMES
    assert dataset.train_batch_count == 4
    assert dataset.train.images.shape == (4068, 32, 32, 3)
    assert dataset.test.images.shape == (1017, 32, 32, 3)
    assert dataset.train.images.dtype == np.uint8
    assert set(dataset.train.labels.tolist()) == set(range(10))
    assert len(dataset.train.labels) == 4068


def test_rows_are_converted_from_channel_major_to_height_width_channel(mini_archive):
    raw = pickle.loads(archive_members(mini_archive)["data_batch_1"], encoding="bytes")
    row = raw[b"data"][0]
    image = load_cifar(mini_archive).train.images[0]
    assert np.array_equal(image[:, :, 0].ravel(), row[:1024])  # red plane
    assert np.array_equal(image[:, :, 2].ravel(), row[2048:])  # blue plane
    assert image[0, 1, 1] == row[1024 + 1]  # green, row 0, column 1


def test_extracted_folder_and_its_parent_load_the_same_as_the_archive(mini_archive, tmp_path):
    with tarfile.open(mini_archive) as tar:
        tar.extractall(tmp_path, filter="data")
    from_archive = load_cifar(mini_archive)
    for path in (tmp_path, tmp_path / "cifar-10-batches-py"):
        from_folder = load_cifar(path)
        assert np.array_equal(from_folder.train.images, from_archive.train.images)
        assert np.array_equal(from_folder.test.labels, from_archive.test.labels)


def test_any_number_of_training_batches_is_accepted_in_numeric_order(mini_archive, tmp_path):
    members = archive_members(mini_archive)
    renamed = {
        "batches.meta": members["batches.meta"],
        "test_batch": members["test_batch"],
        "data_batch_2": members["data_batch_1"],
        "data_batch_10": members["data_batch_3"],
    }
    dataset = load_cifar(write_tar(tmp_path / "two.tar.gz", renamed))
    assert dataset.train_batch_count == 2
    first = pickle.loads(members["data_batch_1"], encoding="bytes")
    assert dataset.train.labels[:5].tolist() == first[b"labels"][:5]  # 2 sorts before 10


def test_truncated_archive_names_the_file_and_the_problem(mini_archive, tmp_path):
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(mini_archive.read_bytes()[:2_000_000])
    with pytest.raises(DatasetError, match=r"truncated\.tar\.gz: archive is truncated or corrupt"):
        load_cifar(truncated)


def test_file_that_is_not_an_archive_is_refused(tmp_path):
    bogus = tmp_path / "notes.tar.gz"
    bogus.write_text("this is not an archive")
    with pytest.raises(DatasetError, match=r"notes\.tar\.gz: not a tar or tar\.gz archive"):
        load_cifar(bogus)


def test_missing_path_is_refused(tmp_path):
    with pytest.raises(DatasetError, match="no such file or folder"):
        load_cifar(tmp_path / "absent.tar.gz")


def test_archive_without_test_batch_lists_what_is_missing(mini_archive, tmp_path):
    members = archive_members(mini_archive)
    del members["test_batch"]
    with pytest.raises(DatasetError, match="missing test_batch"):
        load_cifar(write_tar(tmp_path / "no-test.tar.gz", members))


def test_batch_with_wrong_row_length_is_refused(mini_archive, tmp_path):
    members = archive_members(mini_archive)
    bad = {b"data": np.zeros((3, 100), dtype=np.uint8), b"labels": [0, 1, 2]}
    members["data_batch_1"] = pickle.dumps(bad)
    with pytest.raises(DatasetError, match=r"data_batch_1 data has shape \(3, 100\)"):
        load_cifar(write_tar(tmp_path / "bad.tar.gz", members))


def test_labels_outside_the_class_list_are_refused(mini_archive, tmp_path):
    members = archive_members(mini_archive)
    bad = {b"data": np.zeros((2, 3072), dtype=np.uint8), b"labels": [0, 10]}
    members["data_batch_1"] = pickle.dumps(bad)
    with pytest.raises(DatasetError, match=r"labels outside 0\.\.9"):
        load_cifar(write_tar(tmp_path / "bad-labels.tar.gz", members))


class RunsCode:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('pwned').touch()",))


def test_pickle_that_would_run_code_is_refused_not_executed(mini_archive, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    members = archive_members(mini_archive)
    members["data_batch_1"] = pickle.dumps({b"data": RunsCode(), b"labels": []})
    with pytest.raises(DatasetError, match="forbidden object builtins.exec"):
        load_cifar(write_tar(tmp_path / "evil.tar.gz", members))
    assert not (tmp_path / "pwned").exists()


# --- download ---------------------------------------------------------------------


@pytest.fixture
def archive_server(mini_archive):
    """A real HTTP server on loopback serving the mini archive; counts requests."""
    content = mini_archive.read_bytes()
    requests = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/cifar-10-python.tar.gz", content, requests
    server.shutdown()


def test_download_verifies_md5_and_writes_the_archive(archive_server, tmp_path):
    url, content, _ = archive_server
    md5 = hashlib.md5(content).hexdigest()
    path = download_cifar(
        tmp_path / "data" / "c.tar.gz", url=url, expected_md5=md5, show_progress=False
    )
    assert path.read_bytes() == content
    assert load_cifar(path).train_batch_count == 4


def test_download_with_wrong_md5_leaves_no_file(archive_server, tmp_path):
    url, _, _ = archive_server
    target = tmp_path / "c.tar.gz"
    with pytest.raises(DatasetError, match="expected 00000000000000000000000000000000"):
        download_cifar(target, url=url, expected_md5="0" * 32, show_progress=False)
    assert list(tmp_path.iterdir()) == []


def test_download_skips_a_file_already_verified(archive_server, tmp_path):
    url, content, requests = archive_server
    target = tmp_path / "c.tar.gz"
    target.write_bytes(content)
    download_cifar(target, url=url, expected_md5=hashlib.md5(content).hexdigest())
    assert requests == []


def test_unreachable_download_says_so(tmp_path):
    with pytest.raises(DatasetError, match="download failed"):
        download_cifar(tmp_path / "c.tar.gz", url="http://127.0.0.1:9/none", show_progress=False)


# --- class folders ----------------------------------------------------------------


def write_class_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return path


def test_zip_of_class_folders_yields_labels_from_folder_names(tmp_path):
    red, blue = png_bytes((255, 0, 0)), png_bytes((0, 0, 255), fmt="JPEG")
    archive = write_class_zip(
        tmp_path / "images.zip",
        {
            "dataset/cat/1.png": red,
            "dataset/dog/2.jpg": blue,
            "dataset/dog/.DS_Store": b"junk",
            "__MACOSX/dataset/cat/._1.png": b"junk",
            "README.txt": b"top-level files have no class",
        },
    )
    with ClassFolderReader(archive) as reader:
        files = list(reader)
        assert reader.labels == ["cat", "dog"]
    assert [(item.label, item.name, item.content) for item in files] == [
        ("cat", "1.png", red),
        ("dog", "2.jpg", blue),
    ]


def test_folder_of_class_folders_reads_like_the_zip(tmp_path):
    for label, color in (("cat", (255, 0, 0)), ("dog", (0, 255, 0))):
        (tmp_path / label).mkdir()
        (tmp_path / label / "a.png").write_bytes(png_bytes(color))
    (tmp_path / "cat" / ".hidden.png").write_bytes(b"x")
    reader = ClassFolderReader(tmp_path)
    assert [(item.label, item.name) for item in reader] == [("cat", "a.png"), ("dog", "a.png")]


def test_zip_without_class_folders_is_refused(tmp_path):
    archive = write_class_zip(tmp_path / "flat.zip", {"1.png": png_bytes((0, 0, 0))})
    with pytest.raises(DatasetError, match="flat.zip: no images found"):
        ClassFolderReader(archive)


def test_corrupt_zip_is_refused(tmp_path):
    bogus = tmp_path / "broken.zip"
    bogus.write_bytes(b"PK\x03\x04 but nothing else")
    with pytest.raises(DatasetError, match="broken.zip: not a valid zip"):
        ClassFolderReader(bogus)


def test_member_claiming_a_huge_size_is_refused_before_reading(tmp_path):
    limits = ZipLimits(max_members=10, max_member_bytes=1000, max_total_bytes=10_000)
    archive = write_class_zip(tmp_path / "big.zip", {"cat/zeros.bin": bytes(5000)})
    with pytest.raises(DatasetError, match="cat/zeros.bin is 5000 bytes uncompressed; the limit"):
        ClassFolderReader(archive, zip_limits=limits)


def test_a_zip_whose_members_add_up_to_too_much_is_refused_before_reading():
    from harness.hostile_inputs import _zip

    limits = ZipLimits(max_members=10, max_member_bytes=1000, max_total_bytes=4000)
    archive = io.BytesIO(_zip({f"cat/{index}.png": bytes(1000) for index in range(5)}))
    with pytest.raises(DatasetError, match="add up to 5000 bytes uncompressed; the limit is 4000"):
        ClassFolderReader(archive, zip_limits=limits)


def test_encrypted_or_oddly_compressed_zips_are_dataset_errors():
    from harness.hostile_inputs import _flag_encrypted, _unsupported_compression, _zip

    plain = _zip({"cat/a.png": b"x" * 100})
    for broken in (_flag_encrypted(plain), _unsupported_compression(plain)):
        with pytest.raises(DatasetError), ClassFolderReader(io.BytesIO(broken)) as reader:
            list(reader)


def test_display_names_lose_control_characters_and_are_bounded():
    assert display_name("a\x00b\x1b[31m\n.png") == "ab[31m.png"
    assert display_name("é" * 300) == "é" * 255


def test_member_names_must_match_whole_not_up_to_a_trailing_newline(mini_archive, tmp_path):
    members = archive_members(mini_archive)
    padded = {
        "batches.meta": members["batches.meta"],
        "test_batch": members["test_batch"],
        "data_batch_1": members["data_batch_1"],
        "data_batch_2\n": b"not a pickle",  # `$` accepted this as a training batch
    }
    dataset = load_cifar(write_tar(tmp_path / "padded.tar.gz", padded))
    assert dataset.train_batch_count == 1
