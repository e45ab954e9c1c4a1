"""`xf stack kafka-config` and `xf kafka partner add|remove|list`: Kafka clients' settings and partners.

kafka-config prints the aiokafka keyword arguments of a principal whose password the stack keeps (its
admin, its services, its development partners). A partner added with `xf kafka partner add` gets its
password once, in what that command prints: the stack does not keep it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaException

from services.common.kafka import STACK_ADMIN, MissingKafkaCredentials, client_options
from services.common.kafka_principals import (
    DEV_UNIT,
    DEV_UPSTREAM,
    PARTNER_ROLES,
    SERVICE_PRINCIPALS,
    PrincipalError,
    add_partner_principal,
    list_partner_principals,
    remove_partner_principal,
)
from services.common.settings import Settings
from services.stack.kafka import admin_settings
from services.stack.stack_secrets import STACK_PRINCIPALS, rotate_stack_password

ROLES = ("service", *PARTNER_ROLES)
DEFAULT_NAME = {"service": STACK_ADMIN, "upstream": DEV_UPSTREAM, "unit": DEV_UNIT}
STORED = {"service": (STACK_ADMIN, *SERVICE_PRINCIPALS), "upstream": (DEV_UPSTREAM,), "unit": (DEV_UNIT,)}


def register_kafka_config(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = actions.add_parser(
        "kafka-config",
        help="print the aiokafka keyword arguments (JSON) of a client of the running stack",
        description="Without --name: the stack's own client of the role (service: admin, the super user; "
        "upstream: dev-upstream; unit: dev-unit). Use as AIOKafkaProducer(**json.load(...)).",
    )
    parser.add_argument("--role", choices=ROLES, required=True)
    parser.add_argument("--name", help=f"service: {', '.join(STORED['service'])}")
    parser.set_defaults(func=run_kafka_config)


def stack_options(settings: Settings, role: str, name: str | None) -> dict[str, Any]:
    """The keyword arguments of the stack principal `name` (default: the role's own) of `role`."""
    chosen = name or DEFAULT_NAME[role]
    if chosen not in STORED[role]:
        raise PrincipalError(
            f"the stack keeps no password for {chosen!r} as {role}: a partner's password is printed once by "
            f"`xf kafka partner add`; `xf kafka partner add {chosen} --role {role} --replace` issues a new one"
        )
    options = client_options(admin_settings(settings), chosen)
    options.pop("ssl_context", None)  # not JSON; the local stack has none
    return options


def run_kafka_config(args: argparse.Namespace) -> int:
    return printing_errors(lambda: stack_options(Settings(), args.role, args.name))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`xf kafka partner ...`."""
    kafka = sub.add_parser(
        "kafka",
        help="Kafka principals of partners (upstream systems, units' systems)",
        description="Runs as the stack's super user (XF_KAFKA_USERNAME/XF_KAFKA_PASSWORD, else the local "
        "stack's admin).",
    )
    kinds = kafka.add_subparsers(dest="kafka_kind", required=True, metavar="KIND")
    partner = kinds.add_parser("partner", help="add, remove or list partners' principals")
    actions = partner.add_subparsers(dest="partner_action", required=True, metavar="ACTION")

    add = actions.add_parser(
        "add",
        help="create a partner's SCRAM credentials and ACLs; prints its client settings (JSON) once",
        description="upstream: may only write case.submitted; unit: may only write case.lifecycle.",
    )
    add.add_argument("name")
    add.add_argument("--role", choices=PARTNER_ROLES, required=True)
    add.add_argument("--replace", action="store_true", help="an existing partner: new password, ACLs of --role")
    add.set_defaults(func=run_add)

    remove = actions.add_parser("remove", help="delete a partner's ACLs and credentials")
    remove.add_argument("name")
    remove.set_defaults(func=run_remove)

    listing = actions.add_parser("list", help="the partners and their roles (by their ACLs)")
    listing.set_defaults(func=run_list)

    rotate = kinds.add_parser(
        "rotate",
        help="a new password for one of the local stack's principals; then restart what uses it",
        description=f"One of {', '.join(STACK_PRINCIPALS)}. The broker gets the new password at once, the "
        "stack directory keeps it; restart the service of that name (for admin: Kafka) to use it.",
    )
    rotate.add_argument("principal", choices=STACK_PRINCIPALS, metavar="PRINCIPAL")
    rotate.set_defaults(func=run_rotate)


def run_add(args: argparse.Namespace) -> int:
    def add() -> dict[str, Any]:
        options = add_partner_principal(Settings(), args.name, args.role, replace=args.replace)
        print(f"xf kafka: partner {args.name} ({args.role}) ready; its password is shown this once", file=sys.stderr)
        return options

    return printing_errors(add)


def run_remove(args: argparse.Namespace) -> int:
    def remove() -> None:
        remove_partner_principal(Settings(), args.name)
        print(f"partner {args.name} removed")

    return printing_errors(remove)


def run_list(args: argparse.Namespace) -> int:
    def listing() -> None:
        for name, role in list_partner_principals(Settings()).items():
            print(f"{name}\t{role}")

    return printing_errors(listing)


def run_rotate(args: argparse.Namespace) -> int:
    def rotate() -> None:
        rotate_stack_password(Settings(), args.principal)
        part = "kafka" if args.principal == STACK_ADMIN else args.principal
        print(f"{args.principal}: new password set; restart it: xf stack down --only {part} && xf stack up")

    return printing_errors(rotate)


def printing_errors(action: Callable[[], object]) -> int:
    """Run `action`; a dict it returns is printed as JSON; known errors are one line on stderr, exit 1."""
    try:
        result = action()
    except (PrincipalError, MissingKafkaCredentials) as error:
        print(f"xf: {error}", file=sys.stderr)
        return 1
    except (KafkaException, TimeoutError) as error:
        print(f"xf: Kafka did not answer ({error}); is it running (`xf stack status`)?", file=sys.stderr)
        return 1
    if isinstance(result, dict):
        print(json.dumps(result, indent=2))
    return 0
