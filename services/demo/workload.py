"""A synthetic but plausible stream of petitions across the demo scope (内蒙古自治区, 150000).

Shares follow the seed documents' orders of magnitude: most cases are first-time letters, visits
and web submissions to county petition bureaus; some repeat an earlier matter, some are
collective, some skip levels, some belong to a court. Identity numbers are computed, never real.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from services.common.regions import official_regions
from services.intake.identity import id_number_check_char

SCOPE = "150000"
CHANNELS = (
    ("online", 34),
    ("letter", 22),
    ("visit", 22),
    ("phone", 14),
    ("mailbox", 4),
    ("email", 2),
    ("assignment", 2),
)
CATEGORIES = (
    ("wage_arrears", 14),
    ("land_acquisition", 12),
    ("housing", 12),
    ("social_security", 9),
    ("urban_renewal", 6),
    ("social_assistance", 7),
    ("rural_land", 8),
    ("village_affairs", 5),
    ("official_conduct", 5),
    ("environment", 5),
    ("education", 4),
    ("health", 4),
    ("public_security", 3),
    ("neighbourhood", 3),
    ("enterprise_restructuring", 2),
    ("veterans", 1),
)
TARGETS = {
    "wage_arrears": "hrss",
    "land_acquisition": "natres",
    "housing": "housing",
    "social_security": "hrss",
    "official_conduct": "gov",
    "environment": "env",
}
SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
SUMMARIES = {
    "wage_arrears": "反映某工程项目拖欠农民工工资，多次讨要未果。",
    "land_acquisition": "反映征地补偿标准偏低、补偿款未足额发放。",
    "housing": "反映商品房逾期交付、不动产证迟迟未办理。",
    "social_security": "反映养老保险待遇核定有误，请求重新核算。",
    "urban_renewal": "反映棚户区改造安置房建设进度缓慢。",
    "social_assistance": "申请低保未获批准，请求说明理由并复核。",
    "rural_land": "反映草场承包经营权边界纠纷。",
    "village_affairs": "反映村务公开不及时、集体收益分配不透明。",
    "official_conduct": "反映工作人员办事推诿、态度恶劣。",
    "environment": "反映附近企业夜间排放异味、噪声扰民。",
    "education": "反映子女入学划片不合理。",
    "health": "反映医疗费用报销结算问题。",
    "public_security": "反映小区周边治安问题，请求加强巡逻。",
    "neighbourhood": "反映邻里宅基地界址纠纷，调解未成。",
    "enterprise_restructuring": "反映企业改制时职工身份置换补偿未兑现。",
    "veterans": "反映退役安置待遇未落实。",
}


def pick(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([name for name, _ in weighted], weights=[w for _, w in weighted])[0]


@dataclass
class Workload:
    seed: int = 7
    rng: random.Random = field(init=False)
    extra: random.Random = field(init=False)
    towns: list[str] = field(init=False)
    counties: list[str] = field(init=False)
    earlier: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        # Issue 11's fields from a stream of their own, so the rest of the workload stays as it was.
        self.extra = random.Random(self.seed + 1_000_003)
        tree = official_regions()
        self.towns = sorted(r.code for r in tree.descendants(SCOPE) if r.level == "town")
        self.counties = sorted(r.code for r in tree.descendants(SCOPE) if r.level == "county")

    def person(self, region: str) -> dict[str, Any]:
        born = date(1950, 1, 1) + timedelta(days=self.rng.randrange(365 * 50))
        first17 = f"{region[:6]}{born:%Y%m%d}{self.rng.randrange(1000):03d}"
        name = self.rng.choice(SURNAMES) + "".join(self.rng.choices(GIVEN, k=self.rng.choice((1, 2))))
        return {
            "kind": "person",
            "name": name,
            "id_number": first17 + id_number_check_char(first17),
            "phone": f"1{self.rng.choice('3578')}{self.rng.randrange(10**9):09d}",
        }

    def submission(self, received_at: datetime | None = None) -> dict[str, Any]:
        rng = self.rng
        if self.earlier and rng.random() < 0.22:  # the same petitioner comes back on the same matter
            repeat = dict(rng.choice(self.earlier))
            repeat["channel"] = rng.choice(("visit", "letter", "online", "phone"))
            if repeat["channel"] == "visit" and repeat["petitioner"]["kind"] == "anonymous":
                repeat["channel"] = "online"
            repeat.pop("assignment", None)
            return self._stamp(repeat, received_at)
        town = rng.choice(self.towns)
        county = town[:6]
        channel = pick(rng, CHANNELS)
        category = pick(rng, CATEGORIES)
        received_by = f"{county}:petition"
        roll = rng.random()
        if channel == "visit" and roll < 0.2:  # a visit above the county: skip-level when two levels up
            received_by = rng.choice((f"{county[:4]}00:petition", "150000:petition", "150000:petition"))
        elif roll < 0.10:
            received_by = f"{town}:gov"
        submission: dict[str, Any] = {
            "channel": channel,
            "received_by": received_by,
            "category": category,
            "location": {"region": town},
            "petitioner": self.person(county) if channel == "visit" or rng.random() > 0.08 else {"kind": "anonymous"},
            "people_count": rng.randint(5, 40) if rng.random() < 0.06 else rng.choice((1, 1, 1, 2, 3)),
            "litigation": rng.choice(("pending", "judged", "arbitration")) if rng.random() < 0.06 else "none",
            "summary": SUMMARIES[category],
            "content": SUMMARIES[category] + "（详细经过见来信原件。）",
        }
        if category in TARGETS and rng.random() < 0.15:
            submission["target_unit"] = f"{county}:{TARGETS[category]}"
        if channel == "assignment":
            submission["received_by"] = f"{county}:petition"
            submission["assignment"] = {"from_unit": f"{county[:4]}00:petition", "due_days": rng.choice((15, 30))}
            if received_at is not None and self.extra.random() < 0.5:  # 交办 a few days before it arrived
                assigned = received_at - timedelta(days=self.extra.randint(1, 4))
                submission["assignment"]["assigned_at"] = assigned.isoformat()
        if submission["petitioner"]["kind"] != "anonymous" and self.extra.random() < 0.3:
            # 人户分离 now and then: the petitioner lives in another county than the matter
            elsewhere = self.extra.random() < 0.25
            submission["residence"] = {"region": self.extra.choice(self.counties) if elsewhere else county}
        self.earlier.append(submission)
        return self._stamp(dict(submission), received_at)

    def mistaken(self, submission: dict[str, Any]) -> dict[str, Any] | None:
        """The same submission with a typing mistake in the identity number (its check character), as a
        reception desk sometimes makes; None when there is no identity number to mistype."""
        petitioner = submission.get("petitioner", {})
        number = petitioner.get("id_number")
        if not number:
            return None
        wrong = self.rng.choice([c for c in "0123456789X" if c != number[-1]])
        return {**submission, "petitioner": {**petitioner, "id_number": number[:-1] + wrong}}

    @staticmethod
    def _stamp(submission: dict[str, Any], received_at: datetime | None) -> dict[str, Any]:
        if received_at is not None:
            submission["received_at"] = received_at.isoformat()
        return submission
