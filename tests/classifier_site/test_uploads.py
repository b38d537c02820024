"""classifier_site.uploads.offload: heavy image work in a bounded number of real
threads, so that gevent's event loop keeps serving while an upload is decoded."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from classifier_site.uploads import RequestTooLarge, check_request_pixels, offload
from ml_core.preprocessing import encode_png

ROOT = Path(__file__).resolve().parents[2]


def test_without_gevent_at_most_image_decode_threads_run_at_once(settings):
    settings.IMAGE_DECODE_THREADS = 2
    lock, running, most = threading.Lock(), [0], [0]

    def work() -> None:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1

    threads = [threading.Thread(target=offload, args=(work,)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 2


def test_offload_returns_the_result_or_raises_the_exception():
    assert offload(sum, [1, 2, 3]) == 6
    with pytest.raises(ValueError, match="not a number"):
        offload(int, "not a number")


def test_request_pixels_are_read_from_bytes_or_from_readers(settings):
    """A batch's UploadedImage.content may be the bytes or a reader (media_store.Content)."""
    settings.API_MAX_REQUEST_PIXELS = 2 * 32 * 32
    png = encode_png(np.zeros((32, 32, 3), np.uint8))
    problems = check_request_pixels([("a.png", png), ("b.png", lambda: png), ("c.txt", b"text")])
    assert len(problems) == 1
    assert problems[0].startswith("c.txt: ")
    with pytest.raises(RequestTooLarge):
        check_request_pixels([("a.png", png), ("b.png", lambda: png), ("d.png", png)])


# Run in a fresh interpreter: gevent must patch the standard library before anything
# imports it, as gunicorn's gevent worker does.
GEVENT_SCRIPT = """
from gevent import monkey
monkey.patch_all()
import io, json, threading, time
import django, gevent
django.setup()
from PIL import Image
from classifier_site.uploads import offload

buffer = io.BytesIO()
Image.new("RGB", (8000, 8000), (10, 120, 200)).save(buffer, "PNG")
png = buffer.getvalue()

def decode():
    for _ in range(3):
        Image.open(io.BytesIO(png)).load()
    return threading.get_native_id()

ticks, done = [], []
def ticker():
    while not done:
        ticks.append(time.perf_counter())
        gevent.sleep(0.005)

loop = gevent.spawn(ticker)
started = time.perf_counter()
decoder = offload(decode)
took = time.perf_counter() - started
done.append(True)
loop.join()
gaps = [later - earlier for earlier, later in zip(ticks, ticks[1:])]
print(json.dumps({"took": took, "max_gap": max(gaps), "ticks": len(ticks),
                  "same_thread": decoder == threading.get_native_id()}))
"""


def test_under_gevent_decoding_runs_in_a_real_thread_while_the_event_loop_runs():
    result = subprocess.run(
        [sys.executable, "-c", GEVENT_SCRIPT],
        cwd=ROOT,
        env={"DJANGO_SETTINGS_MODULE": "classifier_site.settings", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert not measured["same_thread"], measured
    # Three 64-megapixel decodes take a second or more; inline, the loop would stand
    # still for all of it. In a thread it runs at least every few GIL switches.
    assert measured["took"] > 0.3, measured
    assert measured["max_gap"] < measured["took"] / 4, measured
