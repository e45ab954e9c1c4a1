"""The campaign's report: the figures with how each was counted, then the forgeries, the poison and the
consumer groups, row by row, and the disruptions as they happened."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from services.faults.campaign import Campaign
from services.faults.tally import Tally


def render(campaign: Campaign, tally: Tally, settled: str) -> str:
    plan, journal = campaign.plan, campaign.journal
    out = [
        f"fault campaign {campaign.run}: {plan.cases} cases over {plan.load_seconds:.0f}s "
        f"({plan.kafka_share:.0%} on case.submitted), {plan.kills} kill -9 of each service, "
        f"{plan.restarts} restart of Kafka and of PostgreSQL, {plan.poison_rounds} poison round(s), "
        f"{plan.forgery_targets} case(s) per forgery",
        settled,
        "",
        "figures (from PostgreSQL and the topics):",
    ]
    width = max(len(line.name) for line in tally.lines)
    for line in tally.lines:
        mark = "FAIL" if line.failed else ("ok  " if line.must_be_zero else "    ")
        out.append(f"  {mark} {line.name:<{width}} {line.value:>7}   {line.how}")
        if line.failed and line.detail:
            out.append(f"  {'':4} {'':<{width}} {'':>7}   e.g. {line.detail}")
    out += ["", "disruptions:"]
    out += [f"  {d.at:6.1f}s  {d.what:<18} back after {d.down_seconds:4.1f}s  {d.note}".rstrip() for d in journal.done]
    if journal.crashed:
        out.append("  exited on their own (restarted): " + "; ".join(journal.crashed))
    out += ["", "principals:"]
    for p in campaign.principals.listed():
        out.append(f"  {p.label:<32} {'SASL' if p.sasl else 'no SASL'}  {p.note}".rstrip())
    keys = [p for p in (campaign.principals.partners.upstream, campaign.principals.partners.units) if not p.signs]
    if keys:
        out.append("  unsigned records from: " + ", ".join(p.name for p in keys) + " (no signing keys on this stack)")
    out += ["", "forgeries (what was sent, by whom, signed how → expected; observed, for how many of the cases):"]
    rows = Counter(
        (
            f.forged.kind.what,
            campaign.principals.principal_of(f.forged.kind.sender).label,
            f.forged.kind.signature,
            f.forged.kind.expected,
            f.outcome,
        )
        for f in tally.forgeries
    )
    out += _table(
        ("forgery", "sender", "signature", "expected", "observed", "n"),
        [(*row, str(n)) for row, n in rows.items()],
    )
    out += ["", "poison (one record each; dead letters pointing at it; consumer groups past it / stuck before it):"]
    out += _table(
        ("record", "published", "dead letters", "passed by", "stuck"),
        [
            (
                p.poison.name,
                f"p{p.delivery.partition}@{p.delivery.offset}" if p.delivery.delivered else str(p.delivery.error)[:60],
                str(p.dead_letters),
                ",".join(p.passed_by) or "-",
                ",".join(p.stuck_at) or "-",
            )
            for p in tally.poison
        ],
    )
    out += ["", "consumer groups at the end (records behind on each input topic):"]
    out += [f"  {g.group:<18} {g.topic:<16} {g.lag}" for g in tally.lags]
    out += ["", "dead letters by consumer ← topic:"]
    out += [f"  {name:<40} {n}" for name, n in tally.dead_letters_by.most_common()]
    failed = tally.failed
    out += [
        "",
        "RESULT: " + ("FAILED: " + ", ".join(f"{line.name} {line.value}" for line in failed) if failed else "all zero"),
    ]
    return "\n".join(out)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return ["  " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in [header, *rows]]
