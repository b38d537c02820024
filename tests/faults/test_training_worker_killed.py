"""SIGKILL the training worker in the middle of a retrain."""

from pathlib import Path

import pytest
import requests

from harness.helpers import wait_until
from ml_core.preprocessing import encode_png

pytestmark = pytest.mark.faults
# A training job sends no heartbeat while its worker imports TensorFlow and loads the
# images: on a busy machine that takes longer than the 3 s the batch tests use.
DEPLOYMENT_SETTINGS = {"JOB_STALE_AFTER_SECONDS": "30"}


def write_class_folders(root: Path, arrays, class_names: list[str]) -> Path:
    for index, (pixels, label) in enumerate(zip(arrays.images, arrays.labels, strict=True)):
        folder = root / class_names[label]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{index}.png").write_bytes(encode_png(pixels))
    return root


def test_the_retrain_is_run_again_and_registers_exactly_one_whole_version(
    deployment, small_dataset, tmp_path
):
    names = small_dataset.class_names
    train = write_class_folders(tmp_path / "train", small_dataset.train, names)
    test = write_class_folders(tmp_path / "test", small_dataset.test, names)
    deployment.manage("import_images", str(train), "--split", "train")
    deployment.manage("import_images", str(test), "--split", "test")
    token = deployment.manage("issue_token", "trainer", "--create").strip()
    deployment.postgres.query("UPDATE auth_user SET is_superuser = true WHERE username = 'trainer'")
    deployment.start_web()
    deployment.start_beat()
    deployment.start_worker("inference")  # runs the beat-scheduled recovery sweep
    doomed = deployment.start_worker("training-doomed", queues="training", prefetch=1)

    response = requests.post(
        f"{deployment.base_url}/api/v1/training-jobs/",
        json={"epochs": 2, "batch_size": 16},
        headers={"Authorization": f"Token {token}"},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    wait_until(
        lambda: (
            deployment.postgres.value("SELECT epoch FROM training_job WHERE id = %s", job_id) >= 1
        ),
        180,
        0.1,
        "the first epoch",
    )
    doomed.kill()
    assert deployment.job(job_id)["status"] == "running"
    deployment.start_worker("training-replacement", queues="training", prefetch=1)

    job = deployment.wait_until_finished(job_id, timeout=300)
    assert job["status"] == "succeeded", job
    assert job["attempts"] == 2
    versions = deployment.postgres.query(
        "SELECT number, artifact_path FROM training_modelversion WHERE job_id = %s", job_id
    )
    assert len(versions) == 1, "exactly one version for the job"
    models = Path(deployment.environment["MODELS_DIR"])
    artifact = models / versions[0][1]
    assert {path.name for path in artifact.iterdir()} == {"model.keras", "metadata.json"}
    registered = {row[0] for row in deployment.postgres.query(
        "SELECT artifact_path FROM training_modelversion")}  # fmt: skip
    on_disk = {path.name for path in models.iterdir() if not path.name.startswith(".")}
    assert on_disk == registered, "no directory that is not a registered version"
