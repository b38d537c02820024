import pytest


@pytest.fixture(autouse=True)
def storage_per_test(isolated_storage):
    """Every test here writes media and model artefacts under its own folder."""
