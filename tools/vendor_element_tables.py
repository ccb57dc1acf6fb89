"""Vendor the element tables of matminer's Magpie preset and elementembeddings' mat2vec and oliynyk.

s2rlib has no runtime dependency on matminer or elementembeddings (matminer pins pandas < 3 and brings
heavy dependencies); it ships the element tables they ship instead, under
``src/s2rlib/data/elements/``, one ``<name>.csv.gz`` per table (one row per element symbol), the
upstream licences beside them and a README.md naming source package, version, file paths, licence and
sha256. Run it in a throwaway environment that has the two packages::

    python3.11 -m venv /tmp/vend && /tmp/vend/bin/pip install matminer==0.10.1 elementembeddings==0.8.0
    /tmp/vend/bin/python tools/vendor_element_tables.py          # (re)write the files
    /tmp/vend/bin/python tools/vendor_element_tables.py --check  # verify the committed files

``--check`` verifies the committed files against the sha256 that ``s2rlib.features.element_data``
pins (and the README lists); where the two packages are importable it also re-extracts the tables
and requires the same bytes. It needs neither s2rlib installed nor its dependencies (it reads the
pins from the module's source text).

* ``magpie``: the 22 properties of ``ElementProperty.from_preset("magpie")``, read from
  ``matminer/utils/data_files/magpie_elementdata/<property>.table`` the way ``MagpieData`` reads them
  (line Z-1 is element Z, Z = 1..118; a line that is missing or not a number is NaN). The values are
  raw: the mean imputation of ``impute_nan=True`` is applied by the featurizer, as matminer does.
* ``mat2vec``: ``elementembeddings/data/element_representations/mat2vec.csv`` (200 dimensions).
* ``oliynyk``: ``elementembeddings/data/element_representations/oliynyk_preprocessed.csv`` (44
  properties; the file ``Embedding.load_data("oliynyk")`` reads).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.metadata as md
import io
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "s2rlib" / "data" / "elements"
MODULE = ROOT / "src" / "s2rlib" / "features" / "element_data.py"
VERSIONS = {"matminer": "0.10.1", "elementembeddings": "0.8.0"}

#: the properties of matminer's ``ElementProperty.from_preset("magpie")`` (in its order)
MAGPIE_PROPERTIES = ("Number", "MendeleevNumber", "AtomicWeight", "MeltingT", "Column", "Row", "CovalentRadius",
                     "Electronegativity", "NsValence", "NpValence", "NdValence", "NfValence", "NValence",
                     "NsUnfilled", "NpUnfilled", "NdUnfilled", "NfUnfilled", "NUnfilled", "GSvolume_pa",
                     "GSbandgap", "GSmagmom", "SpaceGroupNumber")
MAX_Z = 118

#: the 118 element symbols in Z order (what pymatgen's Element.from_Z(z).symbol gives)
SYMBOLS = ("H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br Kr Rb "
           "Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb Lu Hf "
           "Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu Am Cm Bk Cf Es Fm Md No Lr Rf Db Sg Bh "
           "Hs Mt Ds Rg Cn Nh Fl Mc Lv Ts Og").split()


def _gz(text: str) -> bytes:
    """Deterministic gzip (no name, mtime 0) of ``text``."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as fh:
        fh.write(text.encode("utf-8"))
    return buf.getvalue()


def _num(value: float) -> str:
    return "" if value != value else repr(float(value))  # NaN -> empty field; repr: exact round trip


def _site(package: str) -> Path:
    import importlib

    return Path(importlib.import_module(package).__file__).resolve().parent


def _require_versions() -> None:
    for pkg, want in VERSIONS.items():
        got = md.version(pkg)
        if got != want:
            raise SystemExit(f"{pkg} {got} is installed; the vendored tables are of {want}")


def magpie_csv() -> tuple[str, list[str]]:
    base = _site("matminer") / "utils" / "data_files" / "magpie_elementdata"
    cols = {}
    for prop in MAGPIE_PROPERTIES:
        lines = (base / f"{prop}.table").read_text().splitlines(keepends=True)
        vals = []
        for z in range(1, MAX_Z + 1):  # as MagpieData.__init__: float(lines[Z-1]), NaN when it fails
            try:
                vals.append(float(lines[z - 1]))
            except (ValueError, IndexError):
                vals.append(float("nan"))
        cols[prop] = vals
    rows = ["element,Z," + ",".join(MAGPIE_PROPERTIES)]
    for z, sym in enumerate(SYMBOLS, start=1):
        rows.append(f"{sym},{z}," + ",".join(_num(cols[p][z - 1]) for p in MAGPIE_PROPERTIES))
    paths = [f"matminer/utils/data_files/magpie_elementdata/{p}.table" for p in MAGPIE_PROPERTIES]
    return "\n".join(rows) + "\n", paths


def embedding_csv(file: str) -> tuple[str, list[str]]:
    """The upstream CSV re-written in Z order, the numbers as floats (an ``element`` column first)."""
    import csv

    path = _site("elementembeddings") / "data" / "element_representations" / file
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        body = [r for r in reader if r]
    if header[0] != "element":
        raise SystemExit(f"{path}: first column is {header[0]!r}, expected 'element'")
    order = {s: z for z, s in enumerate(SYMBOLS, start=1)}
    body.sort(key=lambda r: order[r[0]])
    rows = [",".join(["element", "Z"] + header[1:])]
    for r in body:
        rows.append(",".join([r[0], str(order[r[0]])] + [_num(float(v)) if v.strip() else "" for v in r[1:]]))
    return "\n".join(rows) + "\n", [f"elementembeddings/data/element_representations/{file}"]


def tables() -> dict[str, tuple[bytes, str, list[str]]]:
    """name -> (gzipped CSV, package, upstream paths)."""
    _require_versions()
    out = {}
    text, paths = magpie_csv()
    out["magpie"] = (_gz(text), "matminer", paths)
    for name, file in (("mat2vec", "mat2vec.csv"), ("oliynyk", "oliynyk_preprocessed.csv")):
        text, paths = embedding_csv(file)
        out[name] = (_gz(text), "elementembeddings", paths)
    return out


def licences() -> dict[str, Path]:
    found = {}
    for pkg in VERSIONS:
        dist = md.distribution(pkg)
        files = [f for f in (dist.files or []) if Path(str(f)).name.upper().startswith("LICEN")]
        if not files:
            raise SystemExit(f"{pkg}: no LICENSE file in its distribution")
        found[pkg] = Path(dist.locate_file(files[0]))
    return found


LICENCE_WORDS = {"matminer": "matminer licence (modified BSD, LBNL)", "elementembeddings": "MIT"}
DESCRIPTIONS = {
    "magpie": "the 22 elemental properties of matminer's `ElementProperty.from_preset(\"magpie\")` (Ward et al., "
              "npj Comput. Mater. 2, 16028 (2016)), Z = 1..118, raw (empty = NaN: matminer's `impute_nan` fill "
              "is applied by `s2rlib.features.descriptors`)",
    "mat2vec": "mat2vec word embeddings of the elements (Tshitoyan et al., Nature 571, 95 (2019)), 200 dimensions",
    "oliynyk": "Oliynyk's 44 elemental properties (Oliynyk et al., Chem. Mater. 28, 7324 (2016)), the "
               "pre-processed file `Embedding.load_data(\"oliynyk\")` reads",
}


def readme(digests: dict[str, str], sources: dict[str, tuple[str, list[str]]], licence_files: dict[str, str]) -> str:
    lines = ["# Vendored element tables", "",
             "Written by `tools/vendor_element_tables.py` (do not edit by hand; `--check` verifies them). "
             "s2rlib does not import matminer or elementembeddings: these are the tables they ship, one row per "
             "element symbol (`element`, `Z`, then one column per property or dimension), gzip-compressed CSV. "
             "`s2rlib.features.element_data` checks each file's sha256 when it loads it.", "",
             "| file | source package | upstream file(s) | licence | sha256 |", "|---|---|---|---|---|"]
    for name, digest in digests.items():
        pkg, paths = sources[name]
        where = f"`{paths[0]}`" if len(paths) == 1 else f"{len(paths)} files `{paths[0].rsplit('/', 1)[0]}/<property>.table`"
        lines.append(f"| `{name}.csv.gz` | {pkg}=={VERSIONS[pkg]} | {where} | {LICENCE_WORDS[pkg]}, "
                     f"`{licence_files[pkg]}` | `{digest}` |")
    lines += ["", "What each holds:", ""]
    lines += [f"* `{name}`: {DESCRIPTIONS[name]}" for name in digests]
    lines += ["", "The Magpie properties, in the preset's order: " + ", ".join(f"`{p}`" for p in MAGPIE_PROPERTIES)
              + ".", ""]
    return "\n".join(lines)


def pinned() -> dict[str, str]:
    """The sha256 pins of ``s2rlib.features.element_data`` (read from its source: no import of s2rlib)."""
    text = MODULE.read_text()
    block = re.search(r"SHA256[^=]*=\s*\{(.*?)\}", text, re.S)
    return dict(re.findall(r'"(\w+)":\s*"([0-9a-f]{64})"', block.group(1))) if block else {}


def check() -> int:
    problems = []
    pins = pinned()
    text = (OUT / "README.md").read_text() if (OUT / "README.md").is_file() else ""
    for name, digest in pins.items():
        path = OUT / f"{name}.csv.gz"
        got = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"
        if got != digest:
            problems.append(f"{path}: sha256 {got}, element_data pins {digest}")
        if digest not in text:
            problems.append(f"{OUT / 'README.md'}: does not list {name}'s sha256 {digest}")
    if not pins:
        problems.append(f"{MODULE}: no SHA256 pins found")
    for lic in ("LICENSE.matminer", "LICENSE.elementembeddings"):
        if not (OUT / lic).is_file():
            problems.append(f"{OUT / lic}: missing")
    try:
        fresh = tables()
    except ImportError as exc:
        print(f"(not re-extracted: {exc}; the sha256 were checked)")
    else:
        for name, (data, _, _) in fresh.items():
            path = OUT / f"{name}.csv.gz"
            if not path.is_file() or path.read_bytes() != data:
                problems.append(f"{path}: differs from a fresh extraction from the installed packages")
    for p in problems:
        print(p, file=sys.stderr)
    print("ok" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


def write() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    fresh = tables()
    digests, sources = {}, {}
    for name, (data, pkg, paths) in fresh.items():
        (OUT / f"{name}.csv.gz").write_bytes(data)
        digests[name] = hashlib.sha256(data).hexdigest()
        sources[name] = (pkg, paths)
    licence_files = {}
    for pkg, src in licences().items():
        dst = OUT / f"LICENSE.{pkg}"
        shutil.copyfile(src, dst)
        licence_files[pkg] = dst.name
    (OUT / "README.md").write_text(readme(digests, sources, licence_files))
    print("SHA256 = {")
    for name, digest in digests.items():
        print(f'    "{name}": "{digest}",')
    print("}")
    return 0


#: the formulas of the matminer fixture (tests/data/magpie_matminer.json): ionic, covalent, metallic, a single
#: element, fractional occupancies, tied fractions (the mode), actinides, and He (matminer's NaN fill)
FIXTURE_FORMULAS = ("NaCl", "Fe2O3", "SiO2", "GaAs", "Cu", "He", "XeF2", "Li7La3Zr2O12", "La0.7Sr0.3MnO3",
                    "Fe0.5Ni0.5", "YBa2Cu3O7", "CsPbI3", "MgB2", "PuO2", "Np2O3", "AcCl3", "Bi2Te3", "SrTiO3",
                    "K2PtCl6", "Mo6S8")
FIXTURE = ROOT / "tests" / "data" / "magpie_matminer.json"


def magpie_fixture() -> int:
    """matminer's own Magpie numbers for :data:`FIXTURE_FORMULAS` (the expected values of tests/test_descriptors.py)."""
    import json

    import matminer
    import pymatgen.core
    from matminer.featurizers.composition import ElementProperty
    from pymatgen.core import Composition

    _require_versions()
    ep = ElementProperty.from_preset("magpie")
    rows = [[float(v) for v in ep.featurize(Composition(f))] for f in FIXTURE_FORMULAS]
    source = (f"matminer=={matminer.__version__} ElementProperty.from_preset('magpie').featurize(Composition(f)), "
              f"pymatgen=={pymatgen.core.__version__}; written by tools/vendor_element_tables.py --magpie-fixture")
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(json.dumps({"source": source, "formulas": list(FIXTURE_FORMULAS), "labels": ep.feature_labels(),
                                   "values": rows}, indent=0) + "\n")
    print(f"wrote {FIXTURE}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="verify the committed files instead of writing them")
    ap.add_argument("--magpie-fixture", action="store_true",
                    help=f"write matminer's Magpie numbers for {len(FIXTURE_FORMULAS)} formulas to {FIXTURE.name}")
    a = ap.parse_args(argv)
    if a.magpie_fixture:
        return magpie_fixture()
    return check() if a.check else write()


if __name__ == "__main__":
    sys.exit(main())
