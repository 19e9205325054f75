"""Start Kafka and Redis, measure the flows asked for, stop whatever the run started."""

from __future__ import annotations

import argparse
import asyncio
import signal
import tempfile
import time
from pathlib import Path

from ..infra import Infra, provision
from .contributions import contributions
from .medical import medical
from .peers import MISSING_QUIX, quix_installed
from .processes import STARTED
from .report import say, write_report


async def measure(args: argparse.Namespace, infra: Infra, logs: Path, started: float) -> None:
    med = con = None
    if args.only in (None, "medical"):
        say("== medical settlement")
        med = await medical(args, infra, logs)
    if args.only in (None, "contributions"):
        say("== contributions collection")
        con = await contributions(args, infra, logs)
    write_report(args, med, con, time.monotonic() - started)
    if args.state_bytes:
        from .state import main_async as state_bytes

        say(await state_bytes(infra.redis_url, sample=2000))


def main(args: argparse.Namespace) -> int:
    started = time.monotonic()
    if args.only in (None, "medical") and args.quix and not quix_installed():
        say(MISSING_QUIX)
        return 2
    # Kafka and Redis start with Ctrl-C held back, so that they are never left half-started.
    held: list[int] = []
    old = signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        infra = provision()
    finally:
        signal.signal(signal.SIGINT, old)
    say(f"Kafka {infra.kafka_bootstrap}, Redis {infra.redis_address} ({infra.mode})")
    logs = Path(tempfile.mkdtemp(prefix="shebao-bench-"))
    try:
        if held:
            raise KeyboardInterrupt
        asyncio.run(measure(args, infra, logs, started))
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the cleanup is not to be cut short
        for p in STARTED:
            p.stop()  # what a failure or Ctrl-C left running
        infra.stop()
        say(f"stopped what this run started; service logs in {logs}")
    return 0
