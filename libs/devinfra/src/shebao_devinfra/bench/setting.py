"""What the benchmark runs against: hospitals, regions, layouts, pacing."""

from __future__ import annotations

from shebao_common.settings import ServiceSettings

HOSPITALS = [(f"h3201{n:05d}", ("primary", "secondary", "tertiary")[n % 3]) for n in range(8)]
"""Code and level of each hospital whose claims are measured (all in Nanjing)."""
CONTRIB_REGIONS = ["320100", "320200", "320500", "321300"]
"""The regions of the contributions flow, one tax bureau each."""
PACE_STEP = 5  # claims sent at once by a paced run
MIN_CLAIMS = 3 * ServiceSettings.model_fields["batch_max_records"].default
"""The fewest `--claims` a throughput figure means something with: three of the runtime's batches.
Each spans a hop's first output to its last (Kafka timestamps), and one batch's outputs are sent
at once, within a millisecond or two."""
WARMUP_CLAIMS = 1_000
"""Claims offered at the latency's rate right before it is measured (a second at 1,000/s)."""
MAIN_LAYOUT = "ingest + adjudicate"
"""Two hops in two processes: the layout the like-for-like peers run as, and the saturation's."""
LAYOUTS = ["one process", MAIN_LAYOUT, "ingest + 2 x adjudicate", "2 x one process"]
"""How the medical settlement stages are spread over processes."""
INGEST_ROLES, ADJUDICATE_ROLES = "ingest,coverage,statements", "adjudicate"
"""The roles of each hop's process in the layouts that split them."""
