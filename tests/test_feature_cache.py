"""The feature cache: a cached load returns exactly the arrays a fresh featurization gives, without parsing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from s2rlib.datasets import registry as datasets
from s2rlib.datasets import inorganic
from s2rlib.features import cache, composition

FORMULAS = ["NaCl", "Fe2O3", "ClNa", "SiO2", "not-a-formula", "GaAs", "Fe2O3", "LiFePO4", "Al2O3", "NaCl"]
VALUES = [5.0, 2.1, 5.2, 8.9, 1.0, 1.4, 2.3, 3.7, 8.8, 4.9]


def _loaded(sha: str = "a" * 64) -> datasets.LoadedFile:
    return datasets.LoadedFile("unit_test", b"", sha, "<unit test table>")


class ParseCounter:
    """Stands in for ``composition.parse_formulas``: counts calls, and raises once ``forbid`` is set."""

    def __init__(self):
        self.calls = 0
        self.forbid = False

    def __call__(self, formulas):
        if self.forbid:
            raise AssertionError("the formulas were parsed again; the cache was not used")
        self.calls += 1
        return _real_parse(formulas)


_real_parse = composition.parse_formulas


def _assert_same(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        # bit-identical, NaN included (float arrays) / equal strings and integers
        assert np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind == "f"), k


@pytest.fixture
def parse_counter(monkeypatch):
    counter = ParseCounter()
    monkeypatch.setattr(composition, "parse_formulas", counter)
    return counter


@pytest.fixture
def counted(parse_counter, monkeypatch, tmp_path):
    """parse_formulas counted, and an empty feature cache of this test's own."""
    monkeypatch.setenv(cache.FEATURE_CACHE_ENV, str(tmp_path / "features"))
    return parse_counter


def test_cached_load_is_identical_and_does_not_parse_again(counted, tmp_path):
    df = pd.DataFrame({"formula": FORMULAS, "target": VALUES})
    fresh = inorganic.composition_table(df, _loaded(), merge="mean", use_cache=False)
    assert counted.calls == 1 and not list((tmp_path / "features").glob("*.npz"))  # use_cache=False stores nothing
    first = inorganic.composition_table(df, _loaded(), merge="mean")  # computes and stores
    assert counted.calls == 2 and len(list((tmp_path / "features").glob("*.npz"))) == 1
    counted.forbid = True
    second = inorganic.composition_table(df, _loaded(), merge="mean")  # must come from the file
    _assert_same(fresh, first)
    _assert_same(fresh, second)
    assert fresh["X"].dtype == np.float32 and len(fresh["y"]) == 6  # NaCl x3 (ClNa too) and Fe2O3 x2 merged
    assert fresh["dropped_rows"].tolist() == [4]


def test_cache_key_follows_the_data_and_the_settings(counted):
    df = pd.DataFrame({"formula": FORMULAS, "target": VALUES})
    inorganic.composition_table(df, _loaded(), merge="mean")
    inorganic.composition_table(df, _loaded(), merge="min")  # another merge rule: another entry
    inorganic.composition_table(df, _loaded("b" * 64), merge="mean")  # other file bytes: another entry
    assert counted.calls == 3


def test_a_damaged_cache_entry_is_recomputed(counted, tmp_path):
    df = pd.DataFrame({"formula": FORMULAS, "target": VALUES})
    good = inorganic.composition_table(df, _loaded(), merge="median")
    (entry,) = (tmp_path / "features").glob("*.npz")
    entry.write_bytes(b"not an npz file")
    again = inorganic.composition_table(df, _loaded(), merge="median")
    assert counted.calls == 2
    _assert_same(good, again)


@pytest.mark.slow
def test_band_gap_from_the_cache_equals_a_fresh_featurization(parse_counter):
    """The real case: 106k source and 4.6k experimental formulas featurized afresh vs loaded from the cache."""
    inorganic.load_band_gap()  # the session's cache: filled here unless an earlier test did
    fresh = inorganic.load_band_gap(use_cache=False)
    parse_counter.forbid = True
    cached = inorganic.load_band_gap()
    for name in ("X_source", "y_source", "X_target", "y_target", "groups_target", "source_ids"):
        a, b = getattr(fresh, name), getattr(cached, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name
    assert fresh.data_sha256 == cached.data_sha256 and fresh.notes == cached.notes
