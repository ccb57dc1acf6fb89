"""Session-wide test environment: the shared data mirror, a fresh per-session cache, no user cases."""

import os
import tempfile
from pathlib import Path

# The case registry reads the user's cases directory when s2rlib.cases.registry is first imported: tests see
# the built-in cases only (tests that make their own cases point $S2R_CASES_DIR elsewhere).
os.environ["S2R_CASES_DIR"] = tempfile.mkdtemp(prefix="s2r_no_user_cases_")

import pytest

from s2rlib.datasets.registry import MIRROR_ENV
from s2rlib._core.paths import CACHE_ENV
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


# --------------------------------------------------------------------------------------------
# The book, built once per test session (tests/test_book.py checks the build, tests/test_browser.py
# opens the pages): a strict build from a clean output directory, as `make book` runs it.

import dataclasses  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BOOK_BUILD_ARGS = ["build", ".", "-W", "-n", "--keep-going"]
#: the --path-output directory of a strict build of this checkout, made by hand with its output in build.log
#: (``jupyter-book build . -W -n --keep-going --path-output DIR > DIR/build.log 2>&1``): the session reuses it
#: instead of building again (a browser-test rerun after a build; the build takes minutes)
REUSE_ENV = "S2R_BOOK_BUILD"


@dataclasses.dataclass
class BookBuild:
    returncode: int
    log: str
    out: Path  # the --path-output directory
    html: Path  # out/_build/html
    seconds: float
    results_root: Path  # where the chapters read results/<case>/results.csv


def jupyter_book_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("jupyter-book")
    if exe.is_file():
        return [str(exe)]
    found = shutil.which("jupyter-book")
    if found is None:
        pytest.skip("jupyter-book is not installed")
    return [found]


@pytest.fixture(scope="session")
def built_book(tmp_path_factory, _s2r_env) -> BookBuild:
    """``jupyter-book build . -W -n --keep-going`` into a fresh directory, once per session.

    The chapters read the committed ``results/`` (or ``$S2R_RESULTS_ROOT`` when set); fits are
    cached in a fresh directory, so nothing from an earlier build is reused; with ``$S2R_BOOK_BUILD`` set
    (:data:`REUSE_ENV`) that build is used as it is.
    """
    env = dict(os.environ)
    results_root = Path(env.get("S2R_RESULTS_ROOT") or REPO / "results")
    if env.get(REUSE_ENV):  # a strict build made by hand (its log in build.log): reuse it, do not build again
        out = Path(env[REUSE_ENV])
        log = (out / "build.log").read_text(errors="replace") if (out / "build.log").is_file() else ""
        ok = (out / "_build" / "html" / "index.html").is_file() and "build succeeded" in log
        return BookBuild(0 if ok else 1, log, out, out / "_build" / "html", 0.0, results_root)
    out = tmp_path_factory.mktemp("book")
    env["S2R_FIT_CACHE"] = str(out / "fit-cache")
    env.setdefault("PYTHONHASHSEED", "0")
    t0 = time.perf_counter()
    proc = subprocess.run(jupyter_book_cmd() + BOOK_BUILD_ARGS + ["--path-output", str(out)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=850)
    return BookBuild(proc.returncode, proc.stdout + proc.stderr, out, out / "_build" / "html",
                     time.perf_counter() - t0, results_root)
