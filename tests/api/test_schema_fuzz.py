"""Schema-driven fuzzing: schemathesis generates requests from our own OpenAPI schema
(valid and invalid) for every operation; none may answer with a 5xx."""

import pytest
import schemathesis
from django.contrib.auth.models import User
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error

from classifier_site.wsgi import application
from tests.workers import register_version

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
# Readiness answers 503 by design while a dependency is missing; it is tested directly.
schema = schema.exclude(path="/api/v1/health/ready/")


@pytest.fixture(scope="module")
def worker(start_worker):
    return start_worker("fuzz")


@pytest.fixture
def admin_token(transactional_db, settings, worker, worker_storage, trained_artifacts):
    """A superuser's token, a production model and a worker: every path is reachable."""
    settings.API_RATE_ANONYMOUS = settings.API_RATE_USER = settings.API_RATE_READ = "100000/m"
    user = User.objects.create_superuser("fuzzer", password="not-used-here")
    register_version(trained_artifacts, 1)
    return Token.objects.create(user=user).key


@pytest.mark.jobs
@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_request_gets_a_server_error(case, admin_token):
    case.call_and_validate(
        headers={"Authorization": f"Token {admin_token}"}, checks=[not_a_server_error]
    )
