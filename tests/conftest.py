"""Session-wide test environment: the shared data mirror and a fresh per-session cache."""

from pathlib import Path

import pytest

from s2rlib.datasets import CACHE_ENV, MIRROR_ENV
from s2rlib.features.cache import FEATURE_CACHE_ENV

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def _s2r_env(tmp_path_factory):
    cache = tmp_path_factory.mktemp("s2r_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(MIRROR_ENV, str(SHARED_DATA))
        mp.setenv(CACHE_ENV, str(cache))
        mp.setenv(FEATURE_CACHE_ENV, str(cache / "features"))
        yield
