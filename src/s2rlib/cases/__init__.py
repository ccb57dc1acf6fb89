"""What to run: one declarative case file per case study, the registry that reads them, users' CSV cases.

* :mod:`s2rlib.cases.case_file` — the TOML case-file format: parsing, checking, writing;
* :mod:`s2rlib.cases.registry` — :data:`CASES`, :class:`Case`, :func:`get_case`, :func:`load_case`;
* :mod:`s2rlib.cases.user_csv` — a user's own case from two CSV files (checked, sha256-verified).
"""

from s2rlib.cases.registry import CASES, Case, builtin_names, get_case, load_case, names

__all__ = ["CASES", "Case", "builtin_names", "get_case", "load_case", "names"]
