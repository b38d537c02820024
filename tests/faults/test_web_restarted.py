"""The web server reloaded (SIGHUP) and restarted (SIGTERM, then started again)
while clients keep sending predictions."""

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
            # Refused: the server never saw the request. Cut: it was sent, and the
            # server may have acted on it before the connection closed.
            refused = "Failed to establish a new connection" in str(exc)
            outcomes.append(("refused" if refused else "cut", str(exc)[:100]))
            time.sleep(0.1)
            continue
        body = response.json() if response.headers["Content-Type"] == "application/json" else {}
        outcomes.append((response.status_code, body.get("prediction_id")))
        sent += 1


def test_no_request_fails_and_no_answer_is_lost_or_given_twice(deployment, mini_dataset):
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
    deployment.web.reload()  # SIGHUP: graceful reload of the web workers
    time.sleep(1.5)
    deployment.stop_web()  # SIGTERM: finish what is in flight, then exit
    deployment.start_web()
    for thread in threads:
        thread.join()

    answered = [outcome for outcome in outcomes if outcome[0] not in {"refused", "cut"}]
    cut = [outcome for outcome in outcomes if outcome[0] == "cut"]
    assert len(answered) == CLIENTS * REQUESTS_PER_CLIENT
    assert {status for status, _ in answered} == {200}, answered
    answered_ids = [prediction_id for _, prediction_id in answered]
    stored = {row[0] for row in deployment.postgres.query(
        "SELECT id FROM predictions_prediction WHERE source = 'api'")}  # fmt: skip
    assert len(set(answered_ids)) == len(answered_ids), "no answer was given twice"
    assert set(answered_ids) <= stored, "every answered prediction is stored"
    # A stored prediction nobody received can only come from a request whose
    # connection was cut while the server worked on it (the client then retried).
    assert len(stored - set(answered_ids)) <= len(cut), (len(stored), len(answered_ids), cut)
