"""Read image datasets: the CIFAR-10 python archive and folders of class sub-folders.

Every problem with an input file surfaces as one `DatasetError` whose message
names the file and says what is wrong with it.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import re
import tarfile
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import numpy as np
from tqdm import tqdm

from ml_core.archives import (  # display_name is re-exported: callers import it from here
    ArchiveError,
    ZipLimits,
    ZipMember,
    ZipReader,
    display_name,
    is_hidden,
)

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"  # published on the CIFAR-10 page
CIFAR_FOLDER_NAME = "cifar-10-batches-py"
CIFAR_IMAGE_SIDE = 32
CIFAR_ROW_LENGTH = 3 * CIFAR_IMAGE_SIDE * CIFAR_IMAGE_SIDE

# `manage.py import_images` reads an operator's own zip: limits that only stop a
# broken or hostile archive from running away (members are read one at a time).
IMPORT_ZIP_LIMITS = ZipLimits(
    max_members=200_000, max_member_bytes=50 * 1024 * 1024, max_total_bytes=16 * 1024**3
)

# Matched with fullmatch: `$` would accept a name ending in a newline.
_DATA_BATCH = re.compile(r"data_batch_(\d+)")
_CIFAR_MEMBERS = re.compile(r"batches\.meta|test_batch|data_batch_\d+")


class DatasetError(Exception):
    """An input dataset is missing, malformed, truncated or of the wrong kind."""


@dataclass(frozen=True)
class ImageArrays:
    images: np.ndarray  # (N, 32, 32, 3) uint8, RGB
    labels: np.ndarray  # (N,) int64 indices into class_names

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class CifarDataset:
    class_names: list[str]
    train: ImageArrays
    test: ImageArrays
    train_batch_count: int


# --- CIFAR python archive ---------------------------------------------------------


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """The CIFAR format is pickle; allow only what a batch needs (numpy arrays).

    Plain `pickle.load` would run arbitrary code from a hostile archive.
    """

    _ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"forbidden object {module}.{name}")
        if module == "numpy.core.multiarray":  # Python 2 era name of numpy._core
            module = "numpy._core.multiarray"
        return super().find_class(module, name)


def _unpickle(content: bytes) -> dict:
    result = _ArrayOnlyUnpickler(io.BytesIO(content), encoding="bytes").load()
    if not isinstance(result, dict):
        raise pickle.UnpicklingError(f"expected a dict, found {type(result).__name__}")
    return result


def _read_cifar_tar(path: Path) -> dict[str, bytes]:
    members: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                name = PurePosixPath(member.name).name
                if member.isfile() and _CIFAR_MEMBERS.fullmatch(name):
                    extracted = archive.extractfile(member)
                    if extracted is not None:
                        members[name] = extracted.read()
    except tarfile.ReadError as exc:
        raise DatasetError(f"{path}: not a tar or tar.gz archive ({exc})") from exc
    except (EOFError, zlib.error, tarfile.TarError, OSError) as exc:
        raise DatasetError(f"{path}: archive is truncated or corrupt ({exc})") from exc
    return members


def _read_cifar_folder(path: Path) -> dict[str, bytes]:
    folder = path / CIFAR_FOLDER_NAME if (path / CIFAR_FOLDER_NAME).is_dir() else path
    return {
        child.name: child.read_bytes()
        for child in folder.iterdir()
        if child.is_file() and _CIFAR_MEMBERS.fullmatch(child.name)
    }


def _parse_class_names(path: Path, content: bytes) -> list[str]:
    try:
        meta = _unpickle(content)
        names = [name.decode("utf-8") for name in meta[b"label_names"]]
    except (pickle.UnpicklingError, EOFError, KeyError, ValueError, AttributeError) as exc:
        raise DatasetError(f"{path}: batches.meta is not a CIFAR label file ({exc})") from exc
    if len(names) < 2:
        raise DatasetError(f"{path}: batches.meta lists {len(names)} class names, need 2+")
    return names


def _parse_batch(path: Path, name: str, content: bytes, class_count: int) -> ImageArrays:
    try:
        batch = _unpickle(content)
        data = np.asarray(batch[b"data"])
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError) as exc:
        raise DatasetError(f"{path}: {name} is not a CIFAR batch ({exc})") from exc
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != CIFAR_ROW_LENGTH:
        raise DatasetError(
            f"{path}: {name} data has shape {data.shape} and type {data.dtype}, "
            f"expected (N, {CIFAR_ROW_LENGTH}) uint8"
        )
    if labels.shape != (data.shape[0],):
        raise DatasetError(f"{path}: {name} has {data.shape[0]} images but {labels.size} labels")
    if labels.size and (labels.min() < 0 or labels.max() >= class_count):
        raise DatasetError(f"{path}: {name} has labels outside 0..{class_count - 1}")
    side = CIFAR_IMAGE_SIDE
    images = data.reshape(-1, 3, side, side).transpose(0, 2, 3, 1)  # channel-major → HWC
    return ImageArrays(images=np.ascontiguousarray(images), labels=labels)


def load_cifar(path: str | Path) -> CifarDataset:
    """Load a CIFAR-10 python archive (.tar.gz) or its extracted folder.

    Any number of `data_batch_N` files is accepted; `test_batch` and `batches.meta`
    are required.
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder")
    members = _read_cifar_folder(path) if path.is_dir() else _read_cifar_tar(path)
    missing = [name for name in ("batches.meta", "test_batch") if name not in members]
    data_batches = sorted(
        (int(match.group(1)), name) for name in members if (match := _DATA_BATCH.fullmatch(name))
    )
    if not data_batches:
        missing.append("data_batch_*")
    if missing:
        raise DatasetError(f"{path}: not a CIFAR-10 python archive, missing {', '.join(missing)}")
    class_names = _parse_class_names(path, members["batches.meta"])
    parts = [_parse_batch(path, name, members[name], len(class_names)) for _, name in data_batches]
    train = ImageArrays(
        images=np.concatenate([part.images for part in parts]),
        labels=np.concatenate([part.labels for part in parts]),
    )
    test = _parse_batch(path, "test_batch", members["test_batch"], len(class_names))
    return CifarDataset(
        class_names=class_names,
        train=train,
        test=test,
        train_batch_count=len(parts),
    )


# --- download ---------------------------------------------------------------------


def file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_cifar(
    destination: str | Path,
    url: str = CIFAR10_URL,
    expected_md5: str = CIFAR10_MD5,
    show_progress: bool = True,
    timeout_seconds: float = 60.0,
) -> Path:
    """Download the official archive to `destination` and verify its md5.

    Only called when a user asks for it; an existing file with the right md5 is
    kept as it is. The file appears under its final name only once verified.
    """
    destination = Path(destination)
    if destination.exists() and file_md5(destination) == expected_md5:
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout_seconds) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with (
                partial.open("wb") as handle,
                tqdm(
                    total=total,
                    unit="B",
                    unit_scale=True,
                    desc=f"Downloading {destination.name}",
                    disable=not show_progress,
                ) as progress,
            ):
                for block in iter(lambda: response.read(1 << 16), b""):
                    handle.write(block)
                    progress.update(len(block))
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise DatasetError(f"{url}: download failed ({exc})") from exc
    actual_md5 = file_md5(partial)
    if actual_md5 != expected_md5:
        partial.unlink()
        raise DatasetError(f"{url}: downloaded file has md5 {actual_md5}, expected {expected_md5}")
    partial.replace(destination)
    return destination


# --- folders of class sub-folders ---------------------------------------------------


@dataclass(frozen=True)
class LabeledFile:
    label: str
    name: str
    content: bytes


@dataclass(frozen=True)
class ClassFolderEntry:
    label: str
    name: str  # for display only
    source: Path | ZipMember


class ClassFolderReader:
    """Labeled image files from a folder or .zip laid out as `<class>/<image>`.

    The label of a file is the name of the folder that holds it, so a wrapping
    top-level folder (`dataset/cat/1.png`) is fine. Files are not decoded here:
    whether Pillow can read them is for the caller to check. A zip is read by
    `ZipReader` under `zip_limits`, one member at a time.
    """

    def __init__(
        self, path: str | Path | BinaryIO, zip_limits: ZipLimits = IMPORT_ZIP_LIMITS
    ) -> None:
        """`path`: a folder, a .zip file, or an open binary file holding a zip."""
        self._zip: ZipReader | None = None
        if hasattr(path, "read"):
            self.path = Path(getattr(path, "name", None) or "upload.zip")
            self.entries = self._zip_entries(path, zip_limits)
        else:
            self.path = Path(path)
            if not self.path.exists():
                raise DatasetError(f"{self.path}: no such file or folder")
            if self.path.is_dir():
                self.entries = self._folder_entries()
            else:
                self.entries = self._zip_entries(self.path, zip_limits)
        if not self.entries:
            self.close()
            raise DatasetError(
                f"{self.path}: no images found; expected class folders such as cat/1.png, dog/2.jpg"
            )

    def _folder_entries(self) -> list[ClassFolderEntry]:
        entries = []
        for file in sorted(self.path.rglob("*")):
            relative = file.relative_to(self.path)
            if file.is_file() and len(relative.parts) >= 2 and not is_hidden(relative.parts):
                entries.append(ClassFolderEntry(relative.parts[-2], relative.name, file))
        return entries

    def _zip_entries(
        self, source: str | Path | BinaryIO, limits: ZipLimits
    ) -> list[ClassFolderEntry]:
        try:
            self._zip = ZipReader(source, limits, label=str(self.path))
        except ArchiveError as exc:
            raise DatasetError(str(exc)) from exc
        entries = [
            ClassFolderEntry(member.parts[-2], display_name(member.parts[-1]), member)
            for member in self._zip.members
            if len(member.parts) >= 2
        ]
        return sorted(entries, key=lambda entry: (entry.label, entry.name, entry.source.name))

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def labels(self) -> list[str]:
        return sorted({entry.label for entry in self.entries})

    def __iter__(self) -> Iterator[LabeledFile]:
        for entry in self.entries:
            yield LabeledFile(label=entry.label, name=entry.name, content=self.read(entry))

    def read(self, entry: ClassFolderEntry) -> bytes:
        """One file's bytes; DatasetError when a zip member is refused."""
        if isinstance(entry.source, Path):
            return entry.source.read_bytes()
        assert self._zip is not None
        try:
            return self._zip.read(entry.source)
        except ArchiveError as exc:
            raise DatasetError(str(exc)) from exc

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def __enter__(self) -> ClassFolderReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
