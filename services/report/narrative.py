"""The main changes of a period, as sentences computed from the numbers (Chinese, with the English beside).

Nothing here is canned but the sentence patterns: which category, county and unit are named, and every
number, come from the period and the period before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from services.report.data import Number
from services.report.situation import Situation, UnitMeasures
from services.report.vocabulary import CATEGORIES

# A unit is named as the weakest only with this many deadlines due: one missed case is not a pattern.
MIN_UNIT_DUE = 2
# A county is where a change "mostly" came from when it accounts for this share of it.
MOSTLY = 0.4


@dataclass(frozen=True)
class Sentence:
    zh: str
    en: str


def change(now: int, before: int) -> tuple[str, str]:
    """ "增加35%" / "up 35 %" (or 减少/down, 持平/level, 新增/new when there was nothing before)."""
    if before == 0:
        return ("新增", "new") if now else ("持平", "level")
    ratio = (now - before) / before
    if round(abs(ratio) * 100) == 0:
        return "持平", "level"
    word_zh, word_en = ("增加", "up") if ratio > 0 else ("减少", "down")
    return f"{word_zh}{abs(ratio):.0%}", f"{word_en} {abs(ratio):.0%}"


def points(now: Number, before: Number) -> tuple[str, str]:
    """A rate's change in percentage points, or nothing when either side has no denominator."""
    if now is None or before is None:
        return "", ""
    delta = (Decimal(now) - Decimal(before)) * 100
    if abs(delta) < Decimal("0.05"):
        return "，与上期持平", ", level with the previous period"
    word_zh, word_en = ("上升", "up") if delta > 0 else ("下降", "down")
    return f"，比上期{word_zh}{abs(delta):.1f}个百分点", f", {word_en} {abs(delta):.1f} points"


def _int(value: Number) -> int:
    return int(value or 0)


def _pct(value: Number) -> str:
    return "—" if value is None else f"{Decimal(value) * 100:.1f}%"


def volume(s: Situation) -> Sentence:
    now, before = _int(s.current.statistics["batches"]), _int(s.previous.statistics["batches"])
    people = _int(s.current.statistics["person_times"])
    zh_change, en_change = change(now, before)
    return Sentence(
        f"本期受理信访事项{now}件、{people}人次，比上期{zh_change}（上期{before}件）。"
        if before
        else f"本期受理信访事项{now}件、{people}人次（上期无受理）。",
        f"{now} cases ({people} person-times) received, {en_change} on the previous period ({before}).",
    )


def _by(counts: dict[tuple[str, str], int], index: int) -> dict[str, int]:
    totals: dict[str, int] = {}
    for key, n in counts.items():
        totals[key[index]] = totals.get(key[index], 0) + n
    return totals


def category_change(s: Situation, county_name: Callable[[str], str]) -> Sentence | None:
    """The category that changed most (in cases), and the county most of that change came from."""
    now, before = _by(s.category_county, 0), _by(s.previous_category_county, 0)
    deltas = {c: now.get(c, 0) - before.get(c, 0) for c in now.keys() | before.keys()}
    if not deltas or max(abs(d) for d in deltas.values()) == 0:
        return None
    category = max(deltas, key=lambda c: (abs(deltas[c]), now.get(c, 0), c))
    delta = deltas[category]
    by_county = {
        county: s.category_county.get((category, county), 0) - s.previous_category_county.get((category, county), 0)
        for (c, county) in s.category_county.keys() | s.previous_category_county.keys()
        if c == category
    }
    same_way = {k: d for k, d in by_county.items() if d * delta > 0}
    county = max(same_way, key=lambda k: (abs(same_way[k]), k)) if same_way else None
    name = CATEGORIES.get(category, category)
    zh_change, en_change = change(now.get(category, 0), before.get(category, 0))
    zh = f"“{name}”类{zh_change}（{before.get(category, 0)}→{now.get(category, 0)}件）"
    counts = f"{before.get(category, 0)} → {now.get(category, 0)}"
    en = f"{category.replace('_', ' ')} cases {en_change} on the previous period ({counts})"
    if county is not None:
        where, part = county_name(county), same_way[county]
        if abs(part) >= MOSTLY * abs(delta):
            zh += f"，主要{'来自' if delta > 0 else '是'}{where}（{part:+d}件）"
            en += f", mostly {'from' if delta > 0 else 'in'} {where} ({part:+d})"
        else:
            zh += f"，{'增' if delta > 0 else '减'}量分散在{len(same_way)}个县级区划，{where}最多（{part:+d}件）"
            en += f", spread over {len(same_way)} counties, most in {where} ({part:+d})"
    return Sentence(zh + "。", en + ".")


def leading_county(s: Situation, county_name: Callable[[str], str]) -> Sentence | None:
    totals = _by(s.category_county, 1)
    total = sum(totals.values())
    if not total:
        return None
    county = max(totals, key=lambda k: (totals[k], k))
    share = totals[county] / total
    return Sentence(
        f"事发地居首的是{county_name(county)}，{totals[county]}件，占{share:.0%}。",
        f"Most cases arose in {county_name(county)}: {totals[county]}, {share:.0%} of the period's.",
    )


def handling(s: Situation) -> Sentence:
    st, before = s.current.statistics, s.previous.statistics
    closure_zh, closure_en = points(st.get("closure_rate"), before.get("closure_rate"))
    on_time_zh, on_time_en = points(st.get("on_time_closure_rate"), before.get("on_time_closure_rate"))
    return Sentence(
        f"办结率{_pct(st.get('closure_rate'))}（{_int(st.get('accepted_replied'))}/{_int(st.get('accepted'))}）{closure_zh}；"
        f"到期结案率{_pct(st.get('on_time_closure_rate'))}（{_int(st.get('handle_due_met'))}/{_int(st.get('handle_due'))}）"
        f"{on_time_zh}。",
        f"Closure rate {_pct(st.get('closure_rate'))} ({_int(st.get('accepted_replied'))}/{_int(st.get('accepted'))})"
        f"{closure_en}; on-time closure rate {_pct(st.get('on_time_closure_rate'))} "
        f"({_int(st.get('handle_due_met'))}/{_int(st.get('handle_due'))}){on_time_en}.",
    )


def overdue(s: Situation) -> Sentence:
    due = sum(d.due for d in s.deadlines)
    missed = sum(d.due - d.met for d in s.deadlines)
    at_end = s.deadlines[-1].overdue_open if s.deadlines else 0
    return Sentence(
        f"本期到期的办理期限{due}件，逾期{missed}件；期末逾期未答复{at_end}件，当前积案{s.backlog_now}件。",
        f"{due} handling deadlines fell in the period, {missed} missed; {at_end} cases overdue without a reply "
        f"at its end, {s.backlog_now} in backlog now.",
    )


def weakest_unit(s: Situation, unit_name: Callable[[str], str]) -> Sentence | None:
    candidates: list[UnitMeasures] = [
        u for u in s.units if u.handle_due >= MIN_UNIT_DUE and u.handle_due_met < u.handle_due
    ]
    if not candidates:
        return None
    unit = min(candidates, key=lambda u: (u.handle_due_met / u.handle_due, -u.handle_due, u.unit))
    rate = unit.handle_due_met / unit.handle_due
    return Sentence(
        f"按期办结率最低的是{unit_name(unit.unit)}（{unit.handle_due_met}/{unit.handle_due}，{rate:.0%}）。",
        f"Lowest on-time closure: {unit_name(unit.unit)} ({unit.handle_due_met}/{unit.handle_due}, {rate:.0%}).",
    )


def main_changes(s: Situation, county_name: Callable[[str], str], unit_name: Callable[[str], str]) -> list[Sentence]:
    sentences = [
        volume(s),
        category_change(s, county_name),
        leading_county(s, county_name),
        handling(s),
        overdue(s),
        weakest_unit(s, unit_name),
    ]
    return [sentence for sentence in sentences if sentence is not None]
