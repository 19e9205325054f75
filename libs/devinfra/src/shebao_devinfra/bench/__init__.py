"""make bench: the platform's two busiest flows against the raw limit of this stack.

Medical settlement (`--only medical`), against the same broker in the same run:
1. the limit: `raw`, a raw aiokafka consume -> JSON decode -> produce loop;
2. the peer a team would pick instead: `quix`, a Quix Streams hop with exactly-once and a
   RocksDB state step (decode, sum the lines, read and write a state value, produce), and the
   same hop doing the ingest hop's own work (`quix.ingest_step`: the contract in pydantic, the
   claim's checks, the pseudonym, the event id and claim id in state), both run from the `bench`
   dependency group's own environment (.bench-venv; `--no-quix` without them);
3. the platform's runtime alone: `sum_hop`, the shared runtime (exactly-once, Redis state) with
   the Quix Streams hop's step as its handler, run as a service is, so that the runtime's own
   cost a record sits beside Quix Streams' (the settlement hops do much more than that step);
4. the platform: hospital claims topics -> ingest -> adjudicate -> settlements topics, with full
   validation, state and exactly-once effects, in four layouts: one process with every stage,
   ingest and adjudication in separate processes, two adjudication instances, and two processes
   with every stage.
Throughput is measured on a backlog (claims produced first, services started after), from the
Kafka timestamps of the first and last settlement, with the CPU per claim of each process (every
thread, /proc) and of Redis over the backlog, beside the peers' CPU per record; latency from each
claim's produce timestamp to its settlement's, at a fixed offered load of 1,000 claims/s (after a
second's warm-up at that rate, whose first half second after idle is printed apart) and above
saturation.

Contributions collection (`--only contributions`): a synthetic population of employers and
employees is loaded as enrollment events produced straight onto shebao.enrollment.events.v1
(what enrollment would publish: employer registered, person registered, employment started, five
memberships), so the measurement does not include enrollment. Each month the employers declare
wages and the scheduler closes the month in four regions, so assessments exist; then the tax
bureaus' EmployerContributionsCollected reports are measured through payment booking and the
fan-out to one ContributionCredited per person:
- throughput on a backlog: a month's reports produced while the service is stopped, then the
  service started; from the Kafka timestamp of the first PaymentBooked to that of the last
  ContributionCredited (collections/s and person-months credited/s);
- latency at a fixed offered load (`--collection-rate`, reports/s, service running): from a
  report's produce timestamp to that of the last credit of the employer's month;
- peak RSS of the contributions process.

Each figure is the median of several runs with the spread. Results go to BENCHMARKS.md.

`make bench` is `python -m shebao_devinfra.bench` (`--help` for the options). One module a
concern: `setting` (the hospitals, regions and layouts), `claims` (the hospitals' load),
`medical` and `contributions` (each flow's measurement), `peers` (runs the raw loop and the Quix
Streams hop, each its own process: `raw`, `quix`), `sum_hop` (the runtime alone), `processes`
(what the run started, and the services' state), `machine` (this machine's cores, memory and
processes), `figures` (what is measured, and its medians), `report` (what is
printed and written), `run` (start, measure, stop), `state` (Redis's bytes per service and
key kind, `--state-bytes` or `scripts/state_bytes.py`). `producer` measures aiokafka's producer
alone, `consumer` its consumer alone by fetch policy. The partners' messages (citizen IDs,
claims, the bureaus' reports) come from `shebao_partners`, the memberships enrollment would
publish from `shebao_devinfra.kit`.
"""
