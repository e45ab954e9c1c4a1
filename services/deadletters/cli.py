"""`xf deadletters list|show|replay`: why records were refused, and replaying them once the cause is fixed.

Every argument is bounded (an id is a UUID, a consumer a short name, a topic one of the pipeline's, counts
within limits) and refused with the argument named before Kafka is asked anything.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime
from typing import Any

from services.common.settings import get_settings
from services.deadletters.letters import (
    CONSUMER_NAME,
    LETTER_ID,
    TOPICS,
    Filter,
    Letter,
    Replayed,
    read_letters,
    replay,
)

MAX_SCAN = 1_000_000
MAX_LIMIT = 10_000
MAX_IDS = 1000
MAX_REASON_FILTER = 200


def _bounded_int(name: str, low: int, high: int) -> Any:
    def parse(text: str) -> int:
        if not text.isascii() or not text.isdigit() or len(text) > 9 or not low <= int(text) <= high:
            raise argparse.ArgumentTypeError(f"{name}: a whole number from {low} to {high}")
        return int(text)

    return parse


def _consumer(text: str) -> str:
    if not CONSUMER_NAME.match(text):
        raise argparse.ArgumentTypeError("--consumer: a consumer name (a-z 0-9 _ -, at most 64)")
    return text


def _since(text: str) -> datetime:
    try:
        if len(text) > 40:
            raise ValueError
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            "--since: an ISO-8601 time with its offset, e.g. 2026-12-01T00:00+08:00"
        ) from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError("--since: give the time's UTC offset, e.g. +08:00")
    return value


def _reason(text: str) -> str:
    if not 0 < len(text) <= MAX_REASON_FILTER or not text.isprintable():
        raise argparse.ArgumentTypeError(f"--reason: printable text of 1 to {MAX_REASON_FILTER} characters")
    return text


def _letter_id(text: str) -> str:
    if not LETTER_ID.match(text):
        raise argparse.ArgumentTypeError(
            f"ID: a dead letter's id (a UUID as `xf deadletters list` shows), not {text[:40]!r}"
        )
    return text


def _filter(args: argparse.Namespace) -> Filter:
    return Filter(consumer=args.consumer, topic=args.topic, since=args.since, reason=args.reason)


def _read(args: argparse.Namespace) -> list[Letter]:
    letters, unreadable = asyncio.run(read_letters(get_settings(), scan=args.scan))
    if unreadable:
        print(f"({unreadable} records on case.deadletter are not dead letters and were skipped)", file=sys.stderr)
    return letters


def _row(letter: Letter) -> str:
    data = letter.data
    partition, offset = ("-" if n is None else n for n in (data.partition, data.offset))
    where = f"{data.topic}/{partition}@{offset}"
    reason = data.reason.replace("\n", " ")
    reason = reason if len(reason) <= 100 else reason[:99] + "…"
    return f"{letter.time:%Y-%m-%dT%H:%M:%S%z}  {letter.id}  {data.consumer:<8}  {where:<24}  {reason}"


def list_letters(args: argparse.Namespace) -> int:
    letters = [letter for letter in _read(args) if _filter(args)(letter)]
    shown = letters[-args.limit :]
    if args.json:
        print(json.dumps([_as_json(letter, payload=False) for letter in shown], ensure_ascii=False, indent=1))
        return 0
    print(f"{'time':<24}  {'id':<36}  {'consumer':<8}  {'topic/partition@offset':<24}  reason")
    for letter in shown:
        print(_row(letter))
    print(f"{len(shown)} of {len(letters)} dead letters (newest last)", file=sys.stderr)
    return 0


def _as_json(letter: Letter, *, payload: bool) -> dict[str, Any]:
    data = letter.data.model_dump(exclude=set() if payload else {"payload"})
    return {"id": letter.id, "time": letter.time.isoformat(), "caseid": letter.caseid, **data}


def show(args: argparse.Namespace) -> int:
    found = [letter for letter in _read(args) if letter.id == args.id]
    if not found:
        print(
            f"xf deadletters show: no dead letter {args.id} in the last {args.scan} records per partition",
            file=sys.stderr,
        )
        return 1
    letter = found[0]
    shown = _as_json(letter, payload=True)
    if not letter.data.payload:
        shown["payload"] = None
        shown["note"] = "no payload: the consumer stored none (a minimal dead letter)"
    elif letter.data.consumer == "intake":
        shown["note"] = "intake stores a pointer to the event, never a case's content"
    print(json.dumps(shown, ensure_ascii=False, indent=1))
    return 0


def replay_letters(args: argparse.Namespace) -> int:
    if not args.ids and not args.all:
        print("xf deadletters replay: name dead letter ids, or --all with filters", file=sys.stderr)
        return 2
    if len(args.ids) > MAX_IDS:
        print(f"xf deadletters replay: ID: at most {MAX_IDS} ids", file=sys.stderr)
        return 2
    missing: set[str] = set()
    letters = _read(args)
    if args.ids:
        wanted = set(args.ids)
        chosen = [letter for letter in letters if letter.id in wanted]
        missing = wanted - {letter.id for letter in chosen}
        for letter_id in sorted(missing):
            print(f"{letter_id}: no such dead letter in the last {args.scan} records per partition", file=sys.stderr)
    else:
        chosen = [letter for letter in letters if _filter(args)(letter)]
    results = asyncio.run(replay(get_settings(), chosen, dry_run=args.dry_run))
    for result in results:
        print(_replayed_line(result))
    replayed = sum(result.outcome in ("replayed", "would_replay") for result in results)
    verb = "would be replayed" if args.dry_run else "replayed"
    print(f"{replayed} of {len(results)} records {verb}", file=sys.stderr)
    return 0 if replayed == len(results) and not (args.ids and missing) else 1


def _replayed_line(result: Replayed) -> str:
    where = "-" if result.position is None else "{}/{}@{}".format(*result.position)
    said = {
        "replayed": "replayed",
        "would_replay": "would be replayed",
        "gone": "not replayed: original bytes not available",
        "no_position": "not replayed: original bytes not available",
    }[result.outcome]
    detail = f" ({result.detail})" if result.detail else ""
    return f"{where}  {said}{detail}  [dead letters: {', '.join(result.letters)}]"


def register(sub: Any) -> None:
    parser = sub.add_parser("deadletters", help="dead letters: list, show, replay (case.deadletter)")
    commands = parser.add_subparsers(dest="deadletters_command", required=True, metavar="COMMAND")

    def common(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--scan",
            type=_bounded_int("--scan", 1, MAX_SCAN),
            default=10_000,
            help="read the last N records of each partition of case.deadletter (default 10000)",
        )

    def filters(command: argparse.ArgumentParser) -> None:
        command.add_argument("--consumer", type=_consumer, help="intake, router or tracker")
        command.add_argument("--topic", choices=TOPICS, help="the topic the refused record was on")
        command.add_argument("--since", type=_since, help="dead-lettered at or after this time (ISO-8601)")
        command.add_argument("--reason", type=_reason, help="the reason contains this text")

    listing = commands.add_parser("list", help="recent dead letters: time, id, consumer, where, reason")
    common(listing)
    filters(listing)
    listing.add_argument(
        "--limit", type=_bounded_int("--limit", 1, MAX_LIMIT), default=50, help="at most N, newest (default 50)"
    )
    listing.add_argument("--json", action="store_true", help="one JSON array (without payloads)")
    listing.set_defaults(func=list_letters)

    showing = commands.add_parser("show", help="one dead letter with its payload (where the consumer stored one)")
    showing.add_argument("id", type=_letter_id, help="the dead letter's id")
    common(showing)
    showing.set_defaults(func=show)

    replaying = commands.add_parser(
        "replay", help="publish the refused records again to their topics (once each; consumers apply by event id)"
    )
    replaying.add_argument("ids", nargs="*", type=_letter_id, metavar="ID", help="dead letter ids")
    replaying.add_argument("--all", action="store_true", help="every dead letter the filters select")
    replaying.add_argument("--dry-run", action="store_true", help="say what would be replayed, publish nothing")
    common(replaying)
    filters(replaying)
    replaying.set_defaults(func=replay_letters)
