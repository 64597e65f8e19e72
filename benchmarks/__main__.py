"""``python -m benchmarks`` (or the ``callsfu-bench`` console script): the load test.

The benchmarks have their own entry point: the product (``sfu/``,
``control/``) never imports them (``tests/test_architecture.py``). Every
argument goes to :mod:`benchmarks.loadtest` (``--help`` lists them).
"""

from __future__ import annotations

import sys
from typing import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from benchmarks import loadtest

    return int(loadtest.main(list(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    sys.exit(main())
