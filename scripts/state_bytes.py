"""Bytes of Redis state per service and key kind, for docs/CAPACITY.md.

    uv run python scripts/state_bytes.py --url redis://... [--sample 2000]

Counts every `shebao:*` key with SCAN, weighs up to --sample keys per kind with
`MEMORY USAGE key SAMPLES 0` and prints bytes per key and per kind, with `INFO memory`.
`python -m shebao_devinfra.bench ... --state-bytes` prints the same at the end of a benchmark
run, before its Redis is stopped. The code is `shebao_devinfra.bench.state`.
"""

from shebao_devinfra.bench.state import main

if __name__ == "__main__":
    raise SystemExit(main())
