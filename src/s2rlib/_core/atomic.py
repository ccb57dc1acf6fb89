"""Atomic writes and setting damaged files aside: the one place s2rlib writes a stored artefact.

:func:`atomic_write` yields a file object on a temporary file in the target's directory; when the
block ends without an exception the data are flushed, fsynced and renamed over the target with
``os.replace``, so a reader (or a killed writer) never sees a half-written file; on an exception
the temporary file is removed and the target is untouched. :func:`set_aside` renames a damaged
artefact to ``<name>.damaged`` (never deleting it) so that it is recomputed and can be inspected.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator

DAMAGED_SUFFIX = ".damaged"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w", **open_kwargs) -> Iterator[IO]:
    """``with atomic_write(path) as fh: ...``: write to a temp file beside ``path``, fsync, rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 would hide the file from other users
        if "b" not in mode:
            open_kwargs.setdefault("newline", "")
        with os.fdopen(fd, mode, **open_kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def set_aside(path: str | Path) -> Path:
    """Rename a damaged file to ``<name>.damaged`` (``.damaged.1``, ... if taken); returns the new path."""
    path = Path(path)
    target = path.with_name(path.name + DAMAGED_SUFFIX)
    k = 0
    while target.exists():
        k += 1
        target = path.with_name(f"{path.name}{DAMAGED_SUFFIX}.{k}")
    os.replace(path, target)
    return target


def write_text(path: Path, text: str) -> bool:
    """Write ``text`` atomically when it differs; returns whether the file changed."""
    path = Path(path)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    with atomic_write(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return True
