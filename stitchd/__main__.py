"""`python -m stitchd ...` is the `stitchd` command."""

from __future__ import annotations

import sys

from stitchd.cli import main

if __name__ == "__main__":
    sys.exit(main())
