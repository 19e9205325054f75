"""What the benchmark runs against: hospitals, regions, layouts, pacing."""

from __future__ import annotations

HOSPITALS = [(f"h3201{n:05d}", ("primary", "secondary", "tertiary")[n % 3]) for n in range(8)]
"""Code and level of each hospital whose claims are measured (all in Nanjing)."""
CONTRIB_REGIONS = ["320100", "320200", "320500", "321300"]
"""The regions of the contributions flow, one tax bureau each."""
PACE_STEP = 5  # claims sent at once by a paced run
WARMUP_CLAIMS = 1_000
"""Claims offered at the latency's rate right before it is measured (a second at 1,000/s)."""
LAYOUTS = ["one process", "ingest + adjudicate", "ingest + 2 x adjudicate", "2 x one process"]
"""How the medical settlement stages are spread over processes."""
