"""The metric names a PromQL expression reads, for checks that every name is one a service exposes."""

from __future__ import annotations

import re
from collections.abc import Iterable

_NAME = re.compile(r"(?<![\w\"])((?:xf|faststream)_[a-z0-9_]+|up)\b(?!\s*[=!~(])")
_NAME_REGEX = re.compile(r'__name__\s*=~\s*"([^"]+)"')
_ALTERNATION = re.compile(r"^([a-z0-9_]*)\(([a-z0-9_|]+)\)([a-z0-9_]*)$")
_STRING = re.compile(r'"[^"]*"')


def metric_names(expressions: Iterable[str]) -> set[str]:
    """Metric names in the expressions (ours, faststream's and `up`), including a name selector with one
    alternation, `{__name__=~"xf_(intake|router)_dead_letters_total"}`."""
    found: set[str] = set()
    for expr in expressions:
        for pattern in _NAME_REGEX.findall(expr):
            match = _ALTERNATION.match(pattern)
            if match is None:
                raise ValueError(f"cannot expand the name pattern {pattern!r}")
            prefix, options, suffix = match.groups()
            found.update(prefix + option + suffix for option in options.split("|"))
        rest = _STRING.sub('""', _NAME_REGEX.sub("", expr))  # label values are not names
        found.update(_NAME.findall(rest))
    return found


def family(name: str) -> str:
    """The name Prometheus' metadata knows a sample name by (a histogram's, without _bucket/_count/_sum)."""
    for suffix in ("_bucket", "_count", "_sum"):
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name
