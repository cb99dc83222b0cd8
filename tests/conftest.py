import pytest


@pytest.fixture(scope="session")
def prepared_cache(tmp_path_factory):
    """One prepared-data cache for the session: preparation is tested on its own in test_prepare.py."""
    return tmp_path_factory.mktemp("prepared")
