"""`xf intake …`: operator commands for intake."""

from __future__ import annotations

import argparse
from typing import Any

from services.intake.privacy import generate_vault_key


def new_key(args: argparse.Namespace) -> int:
    print(f"{args.key_id}:{generate_vault_key()}")
    return 0


def register(sub: Any) -> None:
    intake = sub.add_parser("intake", help="intake operator commands")
    commands = intake.add_subparsers(dest="intake_command", required=True)
    key = commands.add_parser("new-key", help="print a new vault key for XF_VAULT_KEYS (put it first to rotate)")
    key.add_argument("--key-id", default="k1", help="the key's id, e.g. k2 for the second key")
    key.set_defaults(func=new_key)
