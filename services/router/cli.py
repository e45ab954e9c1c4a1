"""`xf route` and `xf rules {check,test,explain,diff}`."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from services.common.rule_problems import RuleError
from services.common.schemas import ANY_TIME, ReceivedCase
from services.router.decide import Router
from services.router.diff import DiffError, diff_decisions, load_revision, read_cases
from services.router.explain import explain
from services.router.invariants import own_complaints
from services.router.load import load_rules
from services.router.model import CompiledRules
from services.router.problems import CaseError
from services.router.ruletests import coverage_report, load_tests, run_tests, uncovered, validation_message

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class BadCase(Exception):
    pass


def register(sub: Any) -> None:
    route = sub.add_parser("route", help="route one case (DOMAIN.md §4.6): prints the decision as JSON")
    route.add_argument("case", type=Path, metavar="CASE.json", help="the case.received data ('-' for stdin)")
    _rules_option(route)
    route.set_defaults(func=cmd_route)

    rules = sub.add_parser("rules", help="tools for rule authors")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True, metavar="ACTION")

    check = rules_sub.add_parser("check", help="validate the rule files (file:line messages)")
    _rules_option(check)
    check.set_defaults(func=cmd_check)

    test = rules_sub.add_parser("test", help="run the rule test cases in rules/tests and report coverage")
    _rules_option(test)
    test.add_argument("-v", "--verbose", action="store_true", help="list passing cases too")
    test.add_argument(
        "--allow-uncovered", action="store_true", help="do not fail when a rule is not exercised by any test"
    )
    test.add_argument("--require-coverage", action="store_true", help=argparse.SUPPRESS)  # the default now
    test.set_defaults(func=cmd_test)

    explain_parser = rules_sub.add_parser("explain", help="why a case gets its decision, table by table")
    explain_parser.add_argument(
        "case", type=Path, metavar="CASE.json", help="a case file, or a rule test as FILE.yaml:LINE"
    )
    _rules_option(explain_parser)
    explain_parser.set_defaults(func=cmd_explain)

    diff = rules_sub.add_parser("diff", help="decisions that change against another git revision of the rules")
    diff.add_argument("--against", required=True, metavar="REV", help="git revision, e.g. HEAD or main~3")
    diff.add_argument(
        "--cases",
        type=Path,
        nargs="*",
        default=[],
        metavar="FILE",
        help="recorded cases (JSON, JSON array or JSON lines); the rule tests' cases are always used",
    )
    diff.add_argument("--trace", action="store_true", help="count a changed trace as a change")
    _rules_option(diff)
    diff.set_defaults(func=cmd_diff)


def _rules_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rules", type=Path, default=None, metavar="DIR", help="rules directory (default: XF_RULES_DIR)"
    )


def _rules_dir(args: argparse.Namespace) -> Path:
    if args.rules is not None:
        return Path(args.rules)
    from services.common.settings import get_settings

    return Path(get_settings().rules_dir)


def _load(args: argparse.Namespace) -> CompiledRules | None:
    try:
        return load_rules(_rules_dir(args))
    except RuleError as error:
        print(error, file=sys.stderr)
        print(f"rules are not usable: {len(error.problems)} problem(s); see `xf rules check`", file=sys.stderr)
        return None


def read_case(path: Path) -> ReceivedCase:
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except OSError as error:
        raise BadCase(f"{path}: cannot read: {error.strerror}") from None
    try:
        body = json.loads(text)
    except json.JSONDecodeError as error:
        raise BadCase(f"{path}: not valid JSON: {error}") from None
    if isinstance(body, dict) and "specversion" in body and "data" in body:
        body = body["data"]  # a whole case.received event
    try:
        return ReceivedCase.model_validate(body, context=ANY_TIME)
    except ValidationError as error:
        raise BadCase(f"{path}: malformed case: {validation_message(error)}") from None


def cmd_route(args: argparse.Namespace) -> int:
    try:
        case = read_case(args.case)
    except BadCase as error:
        print(error, file=sys.stderr)
        return EXIT_BAD_INPUT
    rules = _load(args)
    if rules is None:
        return EXIT_FAILED
    router = Router(rules)
    try:
        decision = router.decide(case)
    except CaseError as error:
        print(f"{args.case}: malformed case: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        router.close()
    print(json.dumps(decision.model_dump(mode="json"), ensure_ascii=False, indent=2))
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    rules_dir = _rules_dir(args)
    try:
        rules = load_rules(rules_dir)
        problems = []
    except RuleError as error:
        rules, problems = None, list(error.problems)
    if rules is not None:
        # Every unit of the directory x every category: seconds, so here and not on each load.
        problems += own_complaints(rules)
    _, test_problems = load_tests(rules_dir)
    problems = sorted(set(problems + test_problems))
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s)", file=sys.stderr)
        return EXIT_FAILED
    assert rules is not None
    summary = f"{len(rules.tables)} tables, {len(rules.all_rules())} rules, {len(rules.categories)} categories"
    print(f"ok: {rules_dir} {rules.version}: {summary}")
    return EXIT_OK


def cmd_test(args: argparse.Namespace) -> int:
    rules = _load(args)
    if rules is None:
        return EXIT_FAILED
    tests, problems = load_tests(rules.root)
    for problem in problems:
        print(problem)
    router = Router(rules)
    try:
        outcomes = run_tests(router, tests)
    finally:
        router.close()
    failed = [outcome for outcome in outcomes if not outcome.passed]
    for outcome in outcomes:
        if outcome.passed and not args.verbose:
            continue
        print(f"{'PASS' if outcome.passed else 'FAIL'} {outcome.test.where} {outcome.test.name}")
        for failure in outcome.failures:
            print(f"    {failure}")
        if not outcome.passed and outcome.decision is not None:
            print(f"    trace: {' → '.join(outcome.decision.trace)}")
            print(f"    explain: xf rules explain {outcome.test.where} --rules {rules.root}")
    missing = uncovered(rules, outcomes)
    total = len(rules.all_rules())
    print(f"{len(outcomes) - len(failed)} passed, {len(failed)} failed, {len(problems)} malformed")
    print(f"coverage: {total - len(missing)}/{total} rules exercised")
    for line in coverage_report(rules, missing):
        print(line)
    if failed or problems or (missing and not args.allow_uncovered):
        return EXIT_FAILED
    return EXIT_OK


def cmd_explain(args: argparse.Namespace) -> int:
    rules = _load(args)
    if rules is None:
        return EXIT_FAILED
    try:
        case = _test_case(rules, str(args.case)) or read_case(args.case)
    except BadCase as error:
        print(error, file=sys.stderr)
        return EXIT_BAD_INPUT
    router = Router(rules)
    try:
        print(explain(rules, case, router.decide(case)))
    except CaseError as error:
        print(f"{args.case}: malformed case: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        router.close()
    return EXIT_OK


def _test_case(rules: CompiledRules, reference: str) -> ReceivedCase | None:
    """A rule test named as `FILE.yaml:LINE` (as `xf rules test` prints it), or None."""
    path, _, line = reference.rpartition(":")
    if not (path.endswith(".yaml") and line.isdigit()):
        return None
    tests, _ = load_tests(rules.root)
    wanted = Path(path).resolve()
    for test in tests:
        if test.line == int(line) and (rules.root.parent / test.file).resolve() == wanted:
            return test.case
    raise BadCase(f"{reference}: no rule test starts at that line")


def cmd_diff(args: argparse.Namespace) -> int:
    rules = _load(args)
    if rules is None:
        return EXIT_FAILED
    tests, _ = load_tests(rules.root)
    try:
        cases = [(test.name, test.case) for test in tests] + read_cases(list(args.cases))
    except (OSError, ValueError) as error:
        print(f"cannot read cases: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    with tempfile.TemporaryDirectory(prefix="xf-rules-") as scratch:
        try:
            before = load_revision(rules.root, args.against, Path(scratch))
        except (DiffError, RuleError) as error:
            print(f"cannot load the rules at {args.against}:\n{error}", file=sys.stderr)
            return EXIT_FAILED
        changes = diff_decisions(before, rules, cases, with_trace=args.trace)
    print(f"rules {before.version} ({args.against}) → {rules.version} (working tree), {len(cases)} cases")
    for change in changes:
        print(f"{change.case_id} ({change.label}):")
        for key, (old, new) in change.fields.items():
            print(f"    {key}: {json.dumps(old, ensure_ascii=False)} → {json.dumps(new, ensure_ascii=False)}")
    print(f"{len(changes)} of {len(cases)} decisions change")
    return EXIT_OK
