"""``python -m s2rlib.cli ...``: the ``s2r`` command."""

import sys

from s2rlib.cli.main import main

sys.exit(main())
