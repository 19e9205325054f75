"""make demo: the platform on real Kafka and Redis, a few stories, then a small city for months.

Starts Kafka and Redis (your KAFKA_BOOTSTRAP_SERVERS/REDIS_URL, else Docker, else local
processes), starts every service as its own process (enrollment, contributions, medical
settlement, unemployment subsidies, welfare), drives a scenario through the topics as the
counters, the employers, the scheduler, the tax bureaus, the hospitals, the job centres, the
statistics bureau and the civil-affairs office would, and prints what happened. Then it
simulates a city (Changzhou: 3,000 people, `--people`) for six months (`--months`), showing its
progress, and ends with a report: in the terminal, and as one self-contained HTML page with
charts (`--report PATH`, else report.html in the log folder; the path is printed). One seed
(`--seed`) sends the same messages. It stops everything it started, also on Ctrl-C or an error.
`--keep` leaves it running until Ctrl-C.

The demo only writes to topics and reads topics and the services' read-side HTTP routes. It waits
for what it depends on (a service has consumed everything before the next step that needs it) and
matches answers by key (claim id, employer), never by position.

`make demo` is `python -m shebao_devinfra.demo [--keep] [--seed N] [--people N] [--months N]
[--report PATH]` (`make demo ARGS="--seed 7"`). One module a concern: `setting` (the province
and its calendar), `output` (printing), `desk` (sending as counters and partners), `tap`
(reading topics as a dashboard), `world` (the processes and topics), one module a service's part
of the story (`enrollment`, `contributions`, `medical`, `unemployment`, `welfare`), `city` (the
months of the city), `report` (its figures, from the platform's topics and read side), `page`
(the HTML), and `run` (start, drive, stop). Partners' and offices' messages come from
`shebao_partners`, test needs from `shebao_devinfra.kit`.
"""
