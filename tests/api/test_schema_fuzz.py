"""The OpenAPI schema is the contract: Schemathesis generates requests from it (valid
and invalid, every operation) and runs every one of its checks on the answers, in
all four phases (examples, coverage, fuzzing, and the stateful phase, which chains
operations through the links it infers: create a job, then read and cancel it).

It runs Schemathesis's own command line, as a developer would (docs/api.md), against
pytest-django's live server with a real inference worker and a production model,
as a superuser, so that every path is reachable."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from harness.helpers import ROOT
from tests.api.schemathesis_hooks import png
from tests.workers import JOB_TEST, register_version

pytestmark = JOB_TEST

# Seconds for fuzzing and the stateful phase together: they repeat until it is spent.
FUZZ_SECONDS = 90
REPORT = ROOT / "test-artifacts" / "schemathesis.txt"
# Readiness answers 503 by design while a dependency is missing (here: no training
# worker runs, so that the training jobs the fuzzer submits stay queued rather than
# take the machine for minutes); every other check still runs on it, and the 503 is
# in its schema. tests/api/test_health.py tests its answers directly.
CONFIG = """
hooks = "tests.api.schemathesis_hooks"

[cache]
enabled = false  # every run starts from the schema alone

[[operations]]
include-path = "/api/v1/health/ready/"
checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "503"]

# Every check runs (Schemathesis's default; `--checks=all` on the command line would
# override the two per-operation settings below).
# A batch job's body is one of three (`images`, `archive`, `draft`: a oneOf). To make
# negative data Schemathesis 4.32 drops the `required` of one branch and then calls a
# body that satisfies another branch (only `images`) negative: a false positive of
# its negative_data_rejection (the class of schemathesis#3367). Every other check, and
# the negative data of every other operation, still run; tests/api/test_batch_jobs.py
# and test_schema_contract.py check this body's either-or directly.
[[operations]]
include-path = "/api/v1/batch-jobs/"
include-method = "POST"
checks.negative_data_rejection.enabled = false

# The same for appending to a draft (`images` or `archive`: a oneOf of two).
[[operations]]
include-path = "/api/v1/batch-jobs/{id}/files/"
include-method = "POST"
checks.negative_data_rejection.enabled = false
"""


@pytest.fixture
def superuser_token(settings, start_worker, trained_artifacts, curated_small) -> str:
    """A production model, an inference worker, curated training images and a
    superuser's token: every operation can succeed."""
    settings.API_RATE_ANONYMOUS = settings.API_RATE_USER = settings.API_RATE_READ = "100000/m"
    start_worker("fuzz")
    register_version(trained_artifacts, 1)
    user = User.objects.create_superuser("fuzzer", password="not-used-here")
    token = Token.objects.create(user=user).key
    # The worker's first prediction loads TensorFlow: not within the fuzzer's
    # response-time limit (max_response_time, 10 s), and not the API's to answer for.
    image = SimpleUploadedFile("warm.png", png(8, 8, 0), content_type="image/png")
    warm = APIClient().post("/api/v1/predict/", {"image": image})
    assert warm.status_code == 200, warm.content
    return token


def test_every_schemathesis_check_passes_in_every_phase(live_server, superuser_token, tmp_path):
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(config),
        "--no-color",
        "run",
        f"{live_server.url}/api/schema/?format=json",
        "--phases=examples,coverage,fuzzing,stateful",
        f"--header=Authorization: Token {superuser_token}",
        "--max-examples=20",
        f"--max-time={FUZZ_SECONDS}",
        "--workers=1",  # one request at a time: the test database is SQLite
        "--seed=14",
        "--suppress-health-check=all",
        "--request-timeout=60",
    ]
    started = time.monotonic()
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}  # the hooks module
    run = subprocess.run(
        command, capture_output=True, text=True, timeout=600, cwd=ROOT, env=environment
    )
    output = run.stdout + run.stderr
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(output)
    print(f"schemathesis took {time.monotonic() - started:.0f} s; its report: {REPORT}")
    assert run.returncode == 0, output[-20000:]
    assert "Stateful" in output, "the stateful phase did not run"
