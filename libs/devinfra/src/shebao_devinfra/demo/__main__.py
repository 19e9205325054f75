"""`python -m shebao_devinfra.demo [--keep]`: what `make demo` runs."""

from __future__ import annotations

import argparse
import sys

from . import __doc__ as description
from .run import main

parser = argparse.ArgumentParser(description=description)
parser.add_argument("--keep", action="store_true", help="leave everything running")
args = parser.parse_args()
sys.exit(main(args.keep))
