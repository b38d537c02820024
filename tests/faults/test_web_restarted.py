"""The web server reloaded (SIGHUP) and restarted (SIGTERM, then started again)
while clients keep sending predictions."""

import signal
import threading
import time

import pytest
import requests

from ml_core.preprocessing import encode_png

pytestmark = pytest.mark.faults
CLIENTS = 4
REQUESTS_PER_CLIENT = 40


def client_loop(deployment, image: bytes, outcomes: list, stop_at: float) -> None:
    """Send predictions one after another; a refused connection (server down) is
    retried, as any client would; every answer is recorded."""
    sent = 0
    while sent < REQUESTS_PER_CLIENT and time.monotonic() < stop_at:
        try:
            response = requests.post(
                f"{deployment.base_url}/api/v1/predict/",
                files={"image": ("a.png", image, "image/png")},
                timeout=60,
            )
        except requests.ConnectionError as exc:
            outcomes.append(("refused", str(exc)[:100]))
            time.sleep(0.1)
            continue
        body = response.json() if response.headers["Content-Type"] == "application/json" else {}
        outcomes.append((response.status_code, body.get("prediction_id")))
        sent += 1


def test_no_request_fails_and_every_answer_matches_one_stored_prediction(deployment, mini_dataset):
    deployment.start_web()
    deployment.start_worker("inference")
    outcomes: list = []
    stop_at = time.monotonic() + 120
    threads = [
        threading.Thread(
            target=client_loop,
            args=(deployment, encode_png(mini_dataset.test.images[index]), outcomes, stop_at),
        )
        for index in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    deployment.web.send_signal(signal.SIGHUP)  # graceful reload of the web workers
    time.sleep(1.5)
    deployment.stop_web()  # SIGTERM: finish what is in flight, then exit
    deployment.start_web()
    for thread in threads:
        thread.join()

    answered = [outcome for outcome in outcomes if outcome[0] != "refused"]
    assert len(answered) == CLIENTS * REQUESTS_PER_CLIENT
    assert {status for status, _ in answered} == {200}, answered
    ids = sorted(prediction_id for _, prediction_id in answered)
    stored = [row[0] for row in deployment.postgres.query(
        "SELECT id FROM predictions_prediction WHERE source = 'api' ORDER BY id")]  # fmt: skip
    assert ids == stored, "every stored prediction was answered, and only once"
