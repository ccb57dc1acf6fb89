"""The ``s2r`` command (:mod:`s2rlib.cli.main`) and ``s2r new-case`` (:mod:`s2rlib.cli.new_case`)."""

from s2rlib.cli.main import main

__all__ = ["main"]
