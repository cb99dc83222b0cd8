import pytest


@pytest.fixture(scope="session")
def data_root(tmp_path_factory):
    """One data folder for the session (LLMREC_DATA_DIR for subprocesses); preparation has its own tests."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def prepared_cache(data_root):
    return data_root / "prepared"
