"""Fault campaign (issue 10): the whole real stack under load while its parts are killed and restarted and
poison and forged events arrive; then lost, duplicated and forged-applied counted from the system's state.

    .venv/bin/python bench/faults.py [--short] [--port-offset 800] [--cases 3000] [--seconds 150]
                                     [--kills 3] [--restarts 1] [--poison-rounds 2] [--forgery-targets 5]
                                     [--settle 240] [--seed 11] [--keep]

Starts Kafka, PostgreSQL, intake, router and tracker in a fresh stack directory of its own
(`.stack-bench<offset>`, test ports moved by the offset; the tracker scans every 0.5 s), submits
demo cases over HTTP and on `case.submitted` and plays the units' systems on `case.lifecycle`, while it
kills each service with `kill -9` (and starts it as `xf stack up` does; a tracker kill waits until its
scanner is raising alerts), restarts Kafka and PostgreSQL, publishes poison records on every input topic
and forged events (services/faults/forgeries.py). It then waits, bounded, for the system to settle and
prints sent / accepted / routed / tracked / lost / duplicated / forged applied / duplicate alerts / dead
letters from PostgreSQL and the topics, each with how it was counted, and the forgeries, poison records
and consumer groups row by row. Exit status 1 when lost, duplicated, forged applied, duplicate alerts,
lost alerts or stuck consumers are not 0. `--short` is the test suite's version (300 cases, one of each).
The stack is stopped unless --keep.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.common.settings import PROJECT_ROOT
from services.faults.campaign import SHORT, Plan, campaign_settings, run_campaign, start_stack, stop_stack
from services.faults.report import render


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true", help="the test suite's version: 300 cases, one of each")
    parser.add_argument("--port-offset", type=int, default=800, help="added to the test ports (default 800)")
    parser.add_argument("--cases", type=int)
    parser.add_argument("--seconds", type=float, help="length of the load phase")
    parser.add_argument("--kills", type=int, help="kill -9 of each service")
    parser.add_argument("--restarts", type=int, help="restarts of Kafka, and of PostgreSQL")
    parser.add_argument("--poison-rounds", type=int)
    parser.add_argument("--forgery-targets", type=int, help="real cases per forgery kind")
    parser.add_argument("--settle", type=float, help="seconds to wait for the system to settle")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--keep", action="store_true", help="leave the stack running afterwards")
    args = parser.parse_args()

    plan = SHORT if args.short else Plan()
    overrides = {
        "cases": args.cases,
        "load_seconds": args.seconds,
        "kills": args.kills,
        "restarts": args.restarts,
        "poison_rounds": args.poison_rounds,
        "forgery_targets": args.forgery_targets,
        "settle_seconds": args.settle,
        "seed": args.seed,
    }
    plan = dataclasses.replace(plan, **{k: v for k, v in overrides.items() if v is not None})
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # a broker restart is expected, not news
    settings = campaign_settings(args.port_offset, PROJECT_ROOT / f".stack-bench{args.port_offset}")
    print(f"[faults] stack in {settings.stack_dir}")
    start_stack(settings, print)
    try:
        campaign, tally, settled = run_campaign(settings, plan, print)
    finally:
        if not args.keep:
            stop_stack(settings)
    print()
    print(render(campaign, tally, settled))
    return 1 if tally.failed else 0


if __name__ == "__main__":
    sys.exit(main())
