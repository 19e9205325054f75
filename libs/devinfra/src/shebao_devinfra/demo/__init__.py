"""make demo: the platform on real Kafka and Redis, with a small realistic month.

Starts Kafka and Redis (your KAFKA_BOOTSTRAP_SERVERS/REDIS_URL, else Docker, else local
processes), starts every service as its own process (enrollment, contributions, medical
settlement, unemployment subsidies, welfare), drives a scenario through the topics as the
counters, the employers, the scheduler, the tax bureaus, the hospitals, the job centres, the
statistics bureau and the civil-affairs office would, prints what happened, and stops everything
it started, also on Ctrl-C or an error. `--keep` leaves it running until Ctrl-C.

The demo only writes to topics and reads topics and the services' read-side HTTP routes. It waits
for what it depends on (a service has consumed everything before the next step that needs it) and
matches answers by key (claim id, employer), never by position.

`make demo` is `python -m shebao_devinfra.demo [--keep]`. One module a concern: `setting` (the
province and its calendar), `output` (printing), `desk` (sending as counters and partners),
`tap` (reading topics as a dashboard), `world` (the processes and topics), one module a service's
part of the story (`enrollment`, `contributions`, `medical`, `unemployment`, `welfare`), and
`run` (start, drive, stop). Test data and partners' records come from `shebao_devinfra.kit`.
"""
