"""Issue 29, item 4: a full or read-only disk, and the warnings of a grid point's kernel.

A full disk is simulated by making the write raise ``OSError(ENOSPC)`` (tests run as root, where a
chmod'ed folder is still writable), a read-only one by ``OSError(EROFS)``.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from s2rlib._core import atomic
from s2rlib._core.point_warnings import POINT_WARNINGS_ENV
from s2rlib.grid import results

from test_faults import CASE, FakePapermill, _grid, small_data  # noqa: F401 - small_data is a fixture

ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _arrays():
    return {"X": np.arange(60, dtype=float).reshape(20, 3)}


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_an_unwritable_feature_cache_is_one_warning_and_the_features_are_computed(tmp_path, monkeypatch, caplog,
                                                                                  code):
    from s2rlib.features import cache

    root = tmp_path / "features"
    monkeypatch.setenv(cache.FEATURE_CACHE_ENV, str(root))
    monkeypatch.setattr(cache, "_WARNED", set())

    def refuse(path, *a, **k):
        raise OSError(code, os.strerror(code), str(root))

    monkeypatch.setattr(cache, "atomic_write", refuse)
    with caplog.at_level(logging.WARNING):
        first = cache.cached_arrays("k1", _arrays)
        second = cache.cached_arrays("k2", _arrays)
    assert np.array_equal(first["X"], _arrays()["X"]) and np.array_equal(second["X"], first["X"])
    lines = [r.getMessage() for r in caplog.records if "feature cache" in r.getMessage()]
    assert lines == [f"feature cache {root} cannot be written ({os.strerror(code)}); computing the features without "
                     f"it (set {cache.FEATURE_CACHE_ENV} to a writable folder)"]


def test_a_failed_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "t.csv"
    target.write_text("old\n")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "fsync", full)
    with pytest.raises(OSError):
        with atomic.atomic_write(target) as fh:
            fh.write("new\n" * 1000)
    assert target.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


@pytest.fixture
def full_pm(monkeypatch):
    import papermill

    fake = FakePapermill()
    monkeypatch.setattr(papermill, "execute_notebook", fake)
    real = results.write_atomic

    def write(df, path):
        if Path(path).name == "results.csv":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(df, path)

    monkeypatch.setattr(results, "write_atomic", write)
    return fake


def test_a_full_out_disk_names_results_csv_keeps_the_points_and_their_failures(tmp_path, full_pm, small_data,
                                                                               capsys):
    full_pm.fail_on[10] = RuntimeError("boom at n=10")
    out = tmp_path / "g"
    rc, _, err = _grid(capsys, out)
    assert rc == 2
    assert f"s2r: error: cannot write the merged table {out / 'results.csv'}: No space left on device at {out}" in err
    assert "internal error" not in err and "boom at n=10" in err and "n=10 m=all" in err
    assert len(list((out / "points").glob("*.csv"))) == 3 and not (out / "results.csv").exists()


def test_an_executed_notebook_cut_short_by_a_full_disk_is_removed(tmp_path, monkeypatch, small_data, capsys):
    import papermill

    def fake(notebook, out_nb, parameters, **kwargs):
        Path(out_nb).write_text('{"cells": [{"cell_type": "code", "sou')  # what a full disk leaves
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(papermill, "execute_notebook", fake)
    out = tmp_path / "g"
    rc, _, err = _grid(capsys, out, ns="0")
    stem = next((out / "points").glob("*.lock")).name[:-len(".csv.lock")]
    nb = out / "executed" / f"{stem}.ipynb"
    assert rc == 2 and "internal error" not in err
    assert (f"n=0 m=all ({out / 'points' / stem}.csv): cannot write the executed notebook {nb}: No space left on "
            f"device at {nb.parent}; the part written was removed") in err
    assert "executed notebook:" not in err and not list((out / "executed").glob("*.ipynb"))


def test_a_point_whose_notebook_cannot_write_its_point_file_names_where_it_writes(tmp_path, monkeypatch, small_data,
                                                                                  capsys):
    import papermill
    from papermill.exceptions import PapermillExecutionError

    def fake(notebook, out_nb, parameters, **kwargs):
        Path(out_nb).write_text("{}")
        raise PapermillExecutionError(7, 1, "write_point(...)", "OSError", "[Errno 28] No space left on device", [])

    monkeypatch.setattr(papermill, "execute_notebook", fake)
    out = tmp_path / "g"
    rc, _, err = _grid(capsys, out, ns="0")
    assert rc == 2, err
    assert ("the notebook raised OSError: [Errno 28] No space left on device (where it writes: its point file in "
            f"{out / 'points'}, or a cache)") in err


def test_an_executed_notebook_that_cannot_be_written_after_the_point_file_is_a_warning(tmp_path, monkeypatch,
                                                                                      small_data, capsys):
    import papermill

    fake = FakePapermill()

    def then_full(notebook, out_nb, parameters, **kwargs):
        fake(notebook, out_nb, parameters, **kwargs)
        Path(out_nb).write_text('{"cells": [')
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(papermill, "execute_notebook", then_full)
    out = tmp_path / "g"
    rc, _, err = _grid(capsys, out, ns="0")
    assert rc == 0, err
    assert "executed notebook" in err and "not written (No space left on device)" in err
    assert (out / "results.csv").is_file() and not list((out / "executed").glob("*.ipynb"))


def test_a_warning_in_the_points_kernel_reaches_s2r_grid(tmp_path, monkeypatch, small_data, capsys):
    import papermill

    fake = FakePapermill()
    message = "pretrained-network cache entry /c/n{n}.pt is damaged (ValueError: bad); moved to n{n}.pt.damaged and recomputed"
    repeated = "feature cache /c/features cannot be written (No space left on device); computing the features without it"

    def kernel(notebook, out_nb, parameters, **kwargs):  # a separate process, as papermill's kernel is
        code = ("import logging, s2rlib; log = logging.getLogger('s2rlib.training.pretrain_cache'); "
                "log.warning(%r); log.warning(%r)" % (message.format(n=parameters["n_source"]), repeated))
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        fake(notebook, out_nb, parameters, **kwargs)

    monkeypatch.setattr(papermill, "execute_notebook", kernel)
    out = tmp_path / "g"
    rc, _, err = _grid(capsys, out, ns="0,5")
    assert rc == 0, err
    assert f"s2r: warning: n=0 m=all: {message.format(n=0)}" in err and f"s2r: warning: n=5 m=all: {message.format(n=5)}" in err
    assert err.count(repeated) == 1  # every kernel repeats it: printed once
    assert POINT_WARNINGS_ENV not in os.environ and not list((out / "executed").glob("*.warnings"))


def test_a_random_bytes_pretrained_entry_is_one_line_saying_it_is_not_a_network(tmp_path, monkeypatch, caplog):
    import torch

    from s2rlib.training import pretrain_cache
    from s2rlib.training.models import EnsembleMLP

    monkeypatch.setenv(pretrain_cache.PRETRAIN_CACHE_ENV, str(tmp_path / "pre"))
    (tmp_path / "pre").mkdir()
    entry = tmp_path / "pre" / "k.pt"
    entry.write_bytes(os.urandom(4096))
    net = EnsembleMLP([0, 1], 3, (4,))

    def compute(model):
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(0.5)

    with caplog.at_level(logging.WARNING):
        assert pretrain_cache.pretrained(net, "k", compute) is False
    text = [r.getMessage() for r in caplog.records if "pretrained-network" in r.getMessage()]
    assert len(text) == 1 and "\n" not in text[0] and "weights_only" not in text[0]
    assert f"entry {entry} is damaged (ValueError: the file is not a loadable network (torch.load: " in text[0]
    assert Path(f"{entry}.damaged").is_file()
    fresh = EnsembleMLP([0, 1], 3, (4,))
    assert pretrain_cache.pretrained(fresh, "k", compute) is True  # recomputed and stored
