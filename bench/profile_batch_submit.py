"""Where a batch job's submit spends its time: cProfile of `submit_batch_job`.

Usage:
    python bench/profile_batch_submit.py [--images 2000] [--lines 25]

The submit decodes every image (to refuse a bad batch before storing anything),
then stores them a chunk at a time, queueing each chunk as it is committed; this
shows where its CPU goes, which the workers share on one host. It uses a private SQLite
database and media folder, and Redis database 14 under a key prefix of its own
(its keys are deleted afterwards). No worker runs: the queued chunks are discarded.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.django_env import private_django

KEY_PREFIX = f"submit-profile-{uuid.uuid4().hex[:8]}-"
SCRATCH, REDIS_URL = private_django("submit-profile-", REDIS_KEY_PREFIX=KEY_PREFIX)

import numpy as np  # noqa: E402
import redis  # noqa: E402
from django.core.management import call_command  # noqa: E402

from ml_core.preprocessing import INPUT_SHAPE, encode_png  # noqa: E402
from predictions import batch  # noqa: E402
from training.models import ModelVersion  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--lines", type=int, default=25, help="rows of the profile to print")
    arguments = parser.parse_args()
    call_command("migrate", verbosity=0)
    # Only the row is needed: the submit checks that a production version exists.
    ModelVersion.objects.create(
        number=1, artifact_path="unused", status=ModelVersion.Status.PRODUCTION,
        class_names=[f"class{index}" for index in range(10)], dataset_fingerprint="profile",
    )  # fmt: skip
    pixels = np.random.default_rng(0).integers(0, 256, (arguments.images, *INPUT_SHAPE), np.uint8)
    images = [
        batch.UploadedImage(f"{index}.png", encode_png(image)) for index, image in enumerate(pixels)
    ]
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    batch.submit_batch_job(images)
    profile.disable()
    print(f"submit_batch_job of {arguments.images} images: {time.perf_counter() - started:.3f} s "
          "(under cProfile, which slows it)\n")  # fmt: skip
    pstats.Stats(profile).sort_stats("cumulative").print_stats(arguments.lines)
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=f"{KEY_PREFIX}*"):
        client.delete(key)


if __name__ == "__main__":
    main()
