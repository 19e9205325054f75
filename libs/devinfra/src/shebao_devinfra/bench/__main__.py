"""`python -m shebao_devinfra.bench [options]`: what `make bench` runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __doc__ as description
from .run import main
from .setting import LAYOUTS, MIN_CLAIMS, WARMUP_CLAIMS

p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawTextHelpFormatter)
p.add_argument("--runs", type=int, default=3)
p.add_argument(
    "--only", choices=["medical", "contributions"], help="measure one flow (default: both)"
)
p.add_argument("--no-latency", dest="latency", action="store_false")
p.add_argument(
    "--no-write", dest="write", action="store_false", help="do not add the run to BENCHMARKS.md"
)
p.add_argument(
    "--profile",
    type=Path,
    metavar="DIR",
    help="write py-spy samples (collapsed stacks) of each settlement process to DIR",
)
p.add_argument(
    "--profile-phase",
    choices=["backlog", "latency"],
    default="backlog",
    help="profile while the backlog is worked off (default) or while the fixed load is offered",
)
p.add_argument(
    "--state-bytes",
    action="store_true",
    help="at the end, print Redis's bytes per service and key kind (bench.state) before stopping",
)
g = p.add_argument_group("medical settlement")
g.add_argument("--claims", type=int, default=20_000)
g.add_argument("--persons", type=int, default=20_000)
g.add_argument("--latency-claims", type=int, default=10_000)
g.add_argument(
    "--warmup-claims",
    type=int,
    default=WARMUP_CLAIMS,
    help="claims offered at the rate right before the latency is measured, not in its figures\n"
    "(default 1,000: a second at 1,000/s; the first half second after idle is printed apart)",
)
g.add_argument(
    "--rate", type=float, default=1000.0, help="claims/s offered for latency (default 1,000)"
)
g.add_argument(
    "--layout", action="append", choices=LAYOUTS, help="measure this layout (default: all)"
)
g.add_argument(
    "--timeline",
    action="store_true",
    help="print each hop's latency per half second of the offered load (p50 and max): where in\n"
    "the ten seconds a tail came from",
)
g.add_argument(
    "--no-quix",
    dest="quix",
    action="store_false",
    help="do not run the Quix Streams hop (the `bench` dependency group, which `make bench` "
    "installs into .bench-venv)",
)
g = p.add_argument_group("contributions")
g.add_argument("--employers", type=int, default=200, help="employers (default 200)")
g.add_argument("--employees", type=int, default=50, help="employees per employer (default 50)")
g.add_argument(
    "--collection-rate",
    type=float,
    default=10.0,
    help="reports/s offered for the latency measurement (default 10)",
)
args = p.parse_args()
if args.only != "contributions" and args.claims < MIN_CLAIMS:
    p.error(
        f"--claims {args.claims}: at least {MIN_CLAIMS:,}, three of the runtime's batches; with "
        "fewer, a hop's outputs can all be sent at once and its throughput means nothing"
    )
sys.exit(main(args))
