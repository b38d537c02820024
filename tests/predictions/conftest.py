from tests.django_fixtures import curated_small, isolated_storage  # noqa: F401
