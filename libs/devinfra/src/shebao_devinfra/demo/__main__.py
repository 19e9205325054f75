"""`python -m shebao_devinfra.demo [--keep] [--seed N] [--people N] [--months N] [--report PATH]
[--platform]`: what `make demo` runs (`make demo ARGS="--seed 7"`); with --platform, against a
platform that runs already (`make up`; compose's `partners` profile runs it so)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __doc__ as description
from .run import Options
from .run import main as run


def main() -> int:
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keep", action="store_true", help="leave everything running")
    parser.add_argument("--seed", type=int, default=2025, help="the city's seed (default 2025)")
    parser.add_argument(
        "--people", type=int, default=3000, help="the city's population (default 3000)"
    )
    parser.add_argument(
        "--months", type=int, default=6, help="months the city goes through, from April 2025 (1-12)"
    )
    parser.add_argument(
        "--report",
        type=Path,
        default=None,
        help="the HTML report's path (default: in the log folder)",
    )
    parser.add_argument(
        "--platform",
        action="store_true",
        help="drive a platform that runs already (make up) instead of starting one",
    )
    args = parser.parse_args()
    if not 1 <= args.months <= 12 or args.people < 100:
        parser.error("--months is 1 to 12, --people at least 100")
    return run(
        Options(
            keep=args.keep,
            seed=args.seed,
            people=args.people,
            months=args.months,
            report=args.report,
            platform=args.platform,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
