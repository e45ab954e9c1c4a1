"""The fault campaign (issue 10): a bounded demo-like load through the whole real stack while services are
killed with `kill -9`, Kafka and PostgreSQL restart, poison records land on every input topic and forged
events are published; then, once the system has settled, what happened is counted from PostgreSQL and the
topics, never from what the campaign believes it did. `bench/faults.py` runs it; a short version runs in
`tests/integration/faults/`.

Modules: `principals` (who a Kafka client is), `send` (producing, bounded), `poison` and `forgeries` (the
tables of hostile records), `load` (cases and the units' lifecycle events), `disruptions` (kills and
restarts), `tally` (the counts), `campaign` (the run).
"""
