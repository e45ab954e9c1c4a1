"""The router's public API: load the rules, decide cases, swap rules on reload.

rules = load_rules(Path("rules"))      # RuleError lists `file:line: message` lines
router = Router(rules)                 # one per process; owns the durable_rules Host
decision = router.decide(case)         # RoutingError: CaseError (bad case) or EngineError
results = router.decide_each(cases)    # a Decision or a RoutingError per case (the service's path)
router.swap(load_rules(Path("rules"))) # atomic; the old Host is freed
"""

from services.common.rule_problems import Problem, RuleError
from services.router.decide import Router
from services.router.engine import EngineError
from services.router.load import load_rules
from services.router.model import CompiledRules
from services.router.problems import CaseError, RoutingError

__all__ = ["CaseError", "CompiledRules", "EngineError", "Problem", "Router", "RoutingError", "RuleError", "load_rules"]
