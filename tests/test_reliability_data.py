"""Bad data: every problem is an error naming the file (and rows), or a counted, logged merge/drop.

Small temporary copies of the real files (or of their first rows) stand in for the inputs, and the
loaders' building blocks are called on them: ``datasets.read_user_csv`` / ``numeric_column``,
``inorganic.composition_table``, ``polymers.load_polymer_density(target_csv=...)``, and
``datasets.fetch`` for the mirror / cache / download chain.
"""

from __future__ import annotations

import dataclasses
import functools
import http.server
import io
import logging
import threading
from pathlib import Path

import pandas as pd
import pytest

from s2rlib._core import paths
from s2rlib.datasets import registry as datasets
from s2rlib.datasets import inorganic
from s2rlib.datasets import polymers
from s2rlib._core.errors import ChecksumError, DataError, DataUnavailableError
from s2rlib.features import composition, molecules

REAL_EXPT_GAP = datasets.fetch("expt_gap").data  # vendored, always available


def _csv(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def _table(path: Path, merge: str = "mean"):
    df, loaded = datasets.read_user_csv(path)
    return inorganic.composition_table(df, loaded, merge=merge, use_cache=False)


# ------------------------------------------------------------------------------ malformed CSVs


def test_missing_column_names_file_and_columns(tmp_path):
    path = _csv(tmp_path, "gaps.csv", "formula,gap\nFe2O3,2.1\n")
    with pytest.raises(DataError) as info:
        _table(path)
    assert str(info.value) == f"{path}: missing column(s) ['target']; found ['formula', 'gap']"


@pytest.mark.parametrize("content,message", [
    ("", "the file is empty"),
    ("\n  \n", "the file is empty"),
    ("formula,target\n", "no data rows (only a header: ['formula', 'target'])"),
    (b"\xff\xfe\x00\x81garbage", "not a readable CSV ('utf-8' codec can't decode byte 0xff"),
    ('formula,target\n"Fe2O3,1.0\n', "not a readable CSV (Error tokenizing data"),
])
def test_empty_or_unreadable_file(tmp_path, content, message):
    path = _csv(tmp_path, "data.csv", content)
    with pytest.raises(DataError) as info:
        datasets.read_user_csv(path)
    assert str(info.value).startswith(f"{path}: {message}"), str(info.value)


def test_missing_user_file_is_unavailable(tmp_path):
    with pytest.raises(DataUnavailableError, match=f"user data file {tmp_path / 'nope.csv'} does not exist"):
        datasets.read_user_csv(tmp_path / "nope.csv")


@pytest.mark.parametrize("bad,lines,values", [
    ("abc", [3], "['abc']"),
    ("", [3], "[nan]"),
    ("nan", [3], "[nan]"),
    ("inf", [3], "[inf]"),
    ("-inf", [3], "[-inf]"),
])
def test_non_numeric_nan_or_infinite_target_names_the_line(tmp_path, bad, lines, values):
    path = _csv(tmp_path, "gaps.csv", f"formula,target\nFe2O3,2.1\nNaCl,{bad}\nKCl,7.0\n")
    with pytest.raises(DataError) as info:
        _table(path)
    assert str(info.value) == (f"{path}: column 'target' has 1 non-numeric, NaN or infinite value(s), first at "
                               f"line(s) {lines} (values {values})")


def test_truncated_copy_of_a_real_file_names_the_cut_line(tmp_path):
    text = REAL_EXPT_GAP.decode()
    lines = text.splitlines()
    cut = text.index(lines[101]) + len(lines[101]) // 2  # mid-way through data line 102
    path = _csv(tmp_path, "expt_gap.csv", text[:cut])
    df, loaded = datasets.read_user_csv(path)
    assert len(df) == 101
    with pytest.raises(DataError, match=rf"{path}: column 'target' has 1 .* first at line\(s\) \[102\]"):
        datasets.numeric_column(df, "target", loaded.location)


def test_many_bad_rows_are_counted_and_the_first_listed(tmp_path):
    rows = "".join(f"X{i},{'oops' if i % 2 else 1.0}\n" for i in range(40))
    path = _csv(tmp_path, "t.csv", "formula,target\n" + rows)
    df, loaded = datasets.read_user_csv(path)
    with pytest.raises(DataError, match=r"has 20 non-numeric.*first at line\(s\) \[3, 5, 7, 9, 11, 13, 15, 17, 19, 21\]"):
        datasets.numeric_column(df, "target", loaded.location)


# ------------------------------------------------------------------------------ compositions


def test_duplicate_compositions_with_conflicting_values_are_merged_counted_and_logged(tmp_path, caplog):
    # Fe2O3 and Fe4O6 are one composition; their values conflict (1.0 vs 3.0) and are averaged
    path = _csv(tmp_path, "gaps.csv", "formula,target\nFe2O3,1.0\nNaCl,5.0\nFe4O6,3.0\nO3Fe2,2.0\n")
    with caplog.at_level(logging.INFO, logger="s2rlib"):
        t = _table(path, merge="mean")
    got = dict(zip(t["reduced"], t["y"]))
    assert got == {"Fe2O3": pytest.approx(2.0), "NaCl": pytest.approx(5.0)}
    assert dict(zip(t["reduced"], t["count"])) == {"Fe2O3": 3, "NaCl": 1}
    assert f"{path}: 2 duplicate row(s) merged by mean into 2 compositions" in caplog.text
    # the source side of formation energies keeps the ground state (min), its documented rule
    low = _table(path, merge="min")
    assert dict(zip(low["reduced"], low["y"]))["Fe2O3"] == 1.0


def test_unparseable_formulas_are_dropped_counted_and_logged_with_lines(tmp_path, caplog):
    path = _csv(tmp_path, "gaps.csv", "formula,target\nFe2O3,1.0\nXx2,2.0\nNaCl,3.0\nFe2O3)(,4.0\n,5.0\nH-1,6\n")
    with caplog.at_level(logging.WARNING, logger="s2rlib"):
        t = _table(path)
    assert sorted(t["reduced"]) == ["Fe2O3", "NaCl"]
    assert (t["dropped_rows"] + 2).tolist() == [3, 5, 6, 7]  # CSV lines of the dropped rows
    assert f"{path}: 4 unparseable formula(s) dropped (lines [3, 5, 6, 7] ...)" in caplog.text
    assert "'Fe2O3)('" in caplog.text and "'Xx2'" in caplog.text
    with pytest.raises(DataError) as info:
        composition.featurize_formulas(["Fe2O3", "Xx2", "NaCl"], location=str(path), on_error="raise")
    assert str(info.value).startswith(f"{path}: 1 unparseable formula(s): line 3 ('Xx2'):")


def test_unparseable_formula_error_names_the_csv_line(tmp_path):
    with pytest.raises(DataError, match=r"line 3 \('Xx2'\)"):
        composition.featurize_formulas(["Fe2O3", "Xx2", "NaCl"], location="gaps.csv", on_error="raise")


def _fake_registry(monkeypatch, files: dict[str, Path]):
    """datasets.read_csv serves small temporary files for the given registry keys."""
    real = datasets.read_csv

    def read_csv(key, **kwargs):
        if key in files:
            return datasets.read_user_csv(files[key], **kwargs)
        return real(key, **kwargs)

    monkeypatch.setattr(datasets, "read_csv", read_csv)


def test_band_gap_loader_notes_count_merges_and_drops(tmp_path, monkeypatch, caplog):
    src = pd.read_csv(io.BytesIO(datasets.fetch("mp_gap").data), nrows=300)
    src_path = tmp_path / "mp_gap.csv"
    src.to_csv(src_path, index=False)
    tgt_path = _csv(tmp_path, "expt_gap.csv", "formula,target\nFe2O3,1.0\nFe4O6,3.0\nNaCl,8.5\nQq,1\nZnO,3.3\n"
                    "SiO2,9\nGaAs,1.4\nGaN,3.4\nSi,1.1\nGe,0.7\nCdTe,1.5\nInP,1.3\n")
    _fake_registry(monkeypatch, {"mp_gap": src_path, "expt_gap": tgt_path})
    with caplog.at_level(logging.INFO, logger="s2rlib"):
        data = inorganic.load_band_gap(use_cache=False)
    n = data.notes
    assert n["target_rows"] == 12 and n["target_compositions"] == 10
    assert n["target_duplicates_merged"] == 1 and n["target_unparseable_dropped"] == 1
    assert n["source_rows"] == 300 and n["source_compositions"] + n["source_duplicates_merged"] == 300
    assert data.y_target[list(data.target_ids).index("Fe2O3")] == pytest.approx(2.0)
    assert f"{tgt_path}: 1 unparseable formula(s) dropped (lines [5] ...)" in caplog.text
    assert f"{tgt_path}: 1 duplicate row(s) merged by mean" in caplog.text
    assert {f["location"] for f in data.files} == {str(src_path), str(tgt_path)}


# ------------------------------------------------------------------------------ SMILES


@pytest.fixture
def small_pi1070(tmp_path, monkeypatch):
    """The first 40 rows of the real PI1070.csv as the density source (fast featurization)."""
    df, _ = datasets.read_csv("radonpy_pi1070")
    path = tmp_path / "PI1070_head.csv"
    df.head(40).to_csv(path, index=False)
    _fake_registry(monkeypatch, {"radonpy_pi1070": path})
    return df.head(40)


def test_polymer_target_csv_duplicates_conflicts_and_bad_smiles(tmp_path, small_pi1070, caplog):
    rows = [
        ("*CC*", 0.92),              # line 2
        ("*C(C*)c1ccccc1", 1.05),     # line 3: polystyrene
        ("c1ccccc1C(*)C*", 1.25),     # line 4: the same polymer, conflicting value (19% apart)
        ("*CC(*)C", 0.90),           # line 5
        ("*C(C)C*", 0.91),           # line 6: the same as line 5, written the other way round; agrees
        ("*CC(*)X", 1.0),            # line 7: unparseable
        ("not a smiles", 1.1),       # line 8: unparseable
        ("*C1CC1*", 1.2),            # line 9
    ]
    path = tmp_path / "density.csv"
    pd.DataFrame(rows, columns=["smiles", "value"]).to_csv(path, index=False)
    with caplog.at_level(logging.INFO, logger="s2rlib"):
        data = polymers.load_polymer_density(target_csv=path, use_cache=False)
    n = data.notes
    assert n["target_rows"] == 8 and n["target_polymers"] == 4
    assert n["target_unparseable_dropped"] == 2 and n["target_unparseable_lines"] == [7, 8]
    assert n["target_duplicates_merged"] == 2 and n["target_conflicts"] == 1
    assert n["merge"] == "mean over rows with the same canonical repeat unit"
    ps = molecules.canonical_smiles("*CC(*)c1ccccc1")
    assert data.y_target[list(data.target_ids).index(ps)] == pytest.approx(1.15)
    assert f"{path}: 2 unparseable SMILES dropped (lines [7, 8])" in caplog.text
    assert f"{path}: 1 polymer(s) with duplicate values spreading by more than 5% (merged by the mean)" in caplog.text
    assert "line 7 ('*CC(*)X')" in caplog.text and "line 8 ('not a smiles')" in caplog.text


def test_polymer_target_csv_errors_name_the_file(tmp_path, small_pi1070):
    miss = tmp_path / "miss.csv"
    miss.write_text("smiles,density\n*CC*,0.9\n")
    with pytest.raises(DataError, match=rf"{miss}: missing column\(s\) \['value'\]"):
        polymers.load_polymer_density(target_csv=miss, use_cache=False)
    bad = tmp_path / "bad.csv"
    bad.write_text("smiles,value\n*CC*,0.9\n*CC(*)C,heavy\n*CC(*)CC,inf\n")
    with pytest.raises(DataError) as info:
        polymers.load_polymer_density(target_csv=bad, use_cache=False)
    assert str(info.value) == (f"{bad}: column 'value' has 2 non-numeric, NaN or infinite value(s), first at "
                               f"line(s) [3, 4] (values ['heavy', 'inf'])")
    none = tmp_path / "none.csv"
    none.write_text("smiles,value\nnonsense,0.9\n*CX*,1.0\n")
    with pytest.raises(DataError, match=rf"{none}: no row has a parseable SMILES"):
        polymers.load_polymer_density(target_csv=none, use_cache=False)
    with pytest.raises(DataError, match=rf"{none}: 2 unparseable SMILES: line 2 \('nonsense'\)"):
        molecules.featurize_smiles(["nonsense", "*CX*"], location=str(none), on_error="raise")


# ------------------------------------------------------------------------------ mirror, cache, download


KEY = "chi_exp"  # a GitHub-sourced file (mirror -> cache -> download)


@pytest.fixture
def no_mirror(tmp_path, monkeypatch):
    monkeypatch.delenv(datasets.MIRROR_ENV, raising=False)
    monkeypatch.setenv(paths.CACHE_ENV, str(tmp_path / "cache"))
    entry = datasets.REGISTRY[KEY]
    real = (Path(__file__).resolve().parents[2] / "shared" / "data" / entry.relpath)
    return entry, real.read_bytes() if real.is_file() else None


def _unreachable(monkeypatch, entry):
    monkeypatch.setitem(datasets.REGISTRY, KEY, dataclasses.replace(entry, url="http://127.0.0.1:9/x"))


def test_no_network_and_no_mirror_says_how_to_fix(no_mirror, monkeypatch, tmp_path):
    entry, _ = no_mirror
    _unreachable(monkeypatch, entry)
    with pytest.raises(DataUnavailableError) as info:
        datasets.fetch(KEY)
    msg = str(info.value)
    target = tmp_path / "cache" / entry.relpath
    assert msg.startswith(f"data file 'chi_exp' ({entry.relpath}) is not available: it is not in the mirror "
                          f"($S2R_DATA_MIRROR=<unset>) nor in the cache ({target}), and downloading "
                          "http://127.0.0.1:9/x failed (ConnectionError")
    assert msg.endswith(f"Fix: set S2R_DATA_MIRROR to a directory holding {entry.relpath} (e.g. the project's "
                        f"../shared/data), or download that URL to {target}.")


def test_truncated_cached_download_is_removed_and_named(no_mirror, monkeypatch, tmp_path, caplog):
    entry, real = no_mirror
    if real is None:
        pytest.skip("shared data mirror not present")
    cached = tmp_path / "cache" / entry.relpath
    cached.parent.mkdir(parents=True)
    cached.write_bytes(real[:1000])  # an interrupted download
    bad_sha = datasets.sha256_bytes(real[:1000])
    _unreachable(monkeypatch, entry)
    with caplog.at_level(logging.WARNING, logger="s2rlib"), pytest.raises(DataUnavailableError) as info:
        datasets.fetch(KEY)
    msg = str(info.value)
    assert f"nor in the cache ({cached}) (the cached copy there had sha256 {bad_sha}, 1000 bytes, instead of " \
           f"{entry.sha256}: truncated or corrupt, so it was removed)" in msg
    assert not cached.exists()
    assert f"{cached}: cached copy of 'chi_exp' has sha256 {bad_sha} (1000 bytes)" in caplog.text


@pytest.fixture
def local_server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_truncated_download_is_a_checksum_error_with_both_hashes(no_mirror, monkeypatch, local_server, tmp_path):
    entry, real = no_mirror
    if real is None:
        pytest.skip("shared data mirror not present")
    root, base = local_server
    (root / "data_Chi.csv").write_bytes(real[: len(real) // 3])
    url = f"{base}/data_Chi.csv"
    monkeypatch.setitem(datasets.REGISTRY, KEY, dataclasses.replace(entry, url=url))
    with pytest.raises(ChecksumError) as info:
        datasets.fetch(KEY)
    msg = str(info.value)
    cached = tmp_path / "cache" / entry.relpath
    assert msg.startswith(f"download of {url} for data file 'chi_exp' ({entry.relpath}, cache {cached}) failed its "
                          f"checksum:")
    assert entry.sha256 in msg and datasets.sha256_bytes(real[: len(real) // 3]) in msg
    assert not cached.exists()  # nothing half-downloaded is left to be trusted later
    # the complete file downloads, verifies and is cached
    (root / "data_Chi.csv").write_bytes(real)
    loaded = datasets.fetch(KEY)
    assert loaded.sha256 == entry.sha256 and loaded.location == str(cached)


def test_checksum_mismatch_in_the_mirror_never_falls_back(no_mirror, monkeypatch, tmp_path):
    entry, real = no_mirror
    if real is None:
        pytest.skip("shared data mirror not present")
    mirror = tmp_path / "mirror"
    bad = mirror / entry.relpath
    bad.parent.mkdir(parents=True)
    bad.write_bytes(real[:-100])  # truncated copy in the mirror
    good = tmp_path / "cache" / entry.relpath  # a good copy in the cache must not be used instead
    good.parent.mkdir(parents=True)
    good.write_bytes(real)
    monkeypatch.setenv(datasets.MIRROR_ENV, str(mirror))
    with pytest.raises(ChecksumError) as info:
        datasets.fetch(KEY)
    got = datasets.sha256_bytes(real[:-100])
    assert str(info.value).startswith(
        f"{bad}: sha256 mismatch for data file 'chi_exp' ({entry.relpath}): expected {entry.sha256}, got {got} "
        f"({len(real) - 100} bytes). The file is corrupt, truncated or a different version; delete it and fetch it "
        f"again from github yoshida-lab/MTL_ChiParameter")


def test_registered_csv_parse_errors_name_the_mirror_file(no_mirror, monkeypatch, tmp_path):
    """A mirror file whose bytes match the registry is trusted; read errors would still name it."""
    entry, real = no_mirror
    if real is None:
        pytest.skip("shared data mirror not present")
    mirror = tmp_path / "mirror"
    (mirror / entry.relpath).parent.mkdir(parents=True)
    (mirror / entry.relpath).write_bytes(real)
    monkeypatch.setenv(datasets.MIRROR_ENV, str(mirror))
    df, loaded = datasets.read_csv(KEY, index_col=0)
    assert loaded.location == str(mirror / entry.relpath) and len(df) == 1190
    with pytest.raises(DataError, match=rf"{mirror / entry.relpath}: missing column\(s\) \['nope'\]"):
        datasets.require_columns(df, ["nope"], loaded.location)
