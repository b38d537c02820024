"""Model artefacts on disk: `model.keras` plus `metadata.json`, never pickle.

A version directory appears under its final name only once both files are
written completely, so an interrupted save leaves no half-written version.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from ml_core.preprocessing import INPUT_SHAPE, PREPROCESSING_VERSION

MODEL_FILENAME = "model.keras"
METADATA_FILENAME = "metadata.json"
METADATA_FORMAT_VERSION = 1
_VERSIONED_LIBRARIES = ("tensorflow-cpu", "tensorflow", "keras", "numpy", "pillow", "scikit-learn")


class ArtifactError(Exception):
    """An artefact directory is missing, incomplete or incompatible."""


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _VERSIONED_LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    return versions


def dataset_fingerprint(entries: Iterable[str]) -> str:
    """sha256 over sorted entries (e.g. "<content sha256>:<label>"): order-free."""
    digest = hashlib.sha256()
    for entry in sorted(entries):
        digest.update(entry.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def build_metadata(
    *,
    class_names: list[str],
    input_shape: tuple[int, ...] | list[int],
    preprocessing_version: int,
    metrics: dict[str, Any],
    dataset_fingerprint: str,
    training_parameters: dict[str, Any],
    calibration: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`calibration` ({"method": "temperature", "temperature": T, ...}) is what
    `Predictor` applies to every probability it serves."""
    return {
        "format_version": METADATA_FORMAT_VERSION,
        "class_names": list(class_names),
        "input_shape": list(input_shape),
        "preprocessing_version": preprocessing_version,
        "metrics": metrics,
        "dataset_fingerprint": dataset_fingerprint,
        "training_parameters": training_parameters,
        "calibration": calibration or {"method": "none", "temperature": 1.0},
        "library_versions": library_versions(),
        "created_at": datetime.now(UTC).isoformat(),
        **(extra or {}),
    }


def save_artifacts(model: Any, directory: str | Path, metadata: dict[str, Any]) -> Path:
    """Write `model.keras` and `metadata.json` into `directory`, atomically.

    The files are written into a temporary sibling directory which is then renamed;
    `directory` must not exist yet (versions are immutable).
    """
    directory = Path(directory)
    if directory.exists():
        raise ArtifactError(f"{directory}: already exists; artefacts are never overwritten")
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        inference_only_copy(model).save(staging / MODEL_FILENAME)
        (staging / METADATA_FILENAME).write_text(json.dumps(metadata, indent=2, sort_keys=True))
        for path in staging.iterdir():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
        staging.chmod(0o755)  # mkdtemp makes it private; workers may run as other users
        staging.rename(directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory


def inference_only_copy(model: Any) -> Any:
    """The same network and weights without the optimizer state (a third the size)."""
    import keras  # here, so that reading metadata never imports TensorFlow

    # Not keras.models.clone_model: since Keras 3.1x it copies the compiled optimizer too.
    copy = keras.Model.from_config(model.get_config())
    copy.set_weights(model.get_weights())
    return copy


def load_metadata(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / METADATA_FILENAME
    try:
        metadata = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ArtifactError(f"{path}: metadata file is missing") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: unreadable metadata ({exc})") from exc
    for key in ("class_names", "input_shape", "preprocessing_version"):
        if key not in metadata:
            raise ArtifactError(f"{path}: metadata has no {key!r}")
    return metadata


def save_untrained_model(
    directory: str | Path,
    class_names: list[str],
    *,
    dataset_fingerprint: str,
    calibration: dict[str, Any] | None = None,
) -> Path:
    """The served architecture with random weights, saved as a trained version would
    be: for benchmarks and checks that measure speed or distribution, not accuracy."""
    from ml_core.model import build_model  # TensorFlow only for those who ask

    metadata = build_metadata(
        class_names=class_names,
        input_shape=INPUT_SHAPE,
        preprocessing_version=PREPROCESSING_VERSION,
        metrics={},
        dataset_fingerprint=dataset_fingerprint,
        training_parameters={},
        calibration=calibration,
    )
    return save_artifacts(build_model(INPUT_SHAPE, len(class_names)), directory, metadata)
