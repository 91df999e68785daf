"""`python -m tests.bench [NAME]`: run the benchmarks (all, or those whose module name contains NAME)."""

from __future__ import annotations

import sys

from tests.bench.harness import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
