"""The warnings of a grid point's notebook, passed back to ``s2r grid`` through a small sidecar file.

A grid point runs in a separate kernel whose stderr ends up only in its executed notebook (deleted
unless ``--keep-notebooks``), so a warning there (a damaged pretrained-network cache entry set aside,
a cache that could not be written) would be lost. The runner names a sidecar file in
``$S2R_POINT_WARNINGS`` for the kernel; importing :mod:`s2rlib` there calls
:func:`install_point_warnings`, which appends each warning of the ``s2rlib`` loggers to it as one
line (and still prints it on stderr, as Python's last-resort handler would); the runner reads the
lines back with :func:`take_point_warnings` and prints them as ``s2r: warning: <point>: ...``.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

POINT_WARNINGS_ENV = "S2R_POINT_WARNINGS"


class _SidecarHandler(logging.Handler):
    def __init__(self, path: str) -> None:
        super().__init__(logging.WARNING)
        self.path = path

    def emit(self, record: logging.LogRecord) -> None:
        text = " ".join(record.getMessage().split("\n"))
        print(text, file=sys.stderr)
        try:
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(text + "\n")
        except OSError:  # a full or read-only results folder: the warning stays on the notebook's stderr
            pass


def install_point_warnings() -> bool:
    """In a grid point's kernel (``$S2R_POINT_WARNINGS`` set), copy s2rlib's warnings to the sidecar file."""
    path = os.environ.get(POINT_WARNINGS_ENV)
    log = logging.getLogger("s2rlib")
    if not path or any(isinstance(h, _SidecarHandler) for h in log.handlers):
        return False
    log.addHandler(_SidecarHandler(path))
    return True


def take_point_warnings(path: str | Path) -> list[str]:
    """The warning lines in the sidecar file at ``path`` (none when it does not exist); the file is removed."""
    path = Path(path)
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    except OSError:
        return []
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass
    return [line for line in lines if line]
