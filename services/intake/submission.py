"""A submitted case: the body of `POST` to intake and the data of a `case.submitted` event.

It holds everything intake registers, personal data included; only `matter.to_received_case`'s
output (DOMAIN.md §4.3, no personal data) leaves intake. Fields:

- `channel`, `received_by` (unit id where it was registered), `category` (§4.2 code or one a rule
  file adds), `location` {`region` (事发地, division code), `address`?}, `people_count` (>= 1),
  `target_unit`? (the unit complained about), `litigation` (default `none`), `residence`? {`region`:
  a county code of the table, 人户分离}, `new_facts` (default false; a concluded matter with new facts
  or reasons is a new case).
- `petitioner`, by `kind`:
  - `person`: `name`, and optionally `id_number` (GB 11643, normalised with a capital X), `phone`
    (normalised to digits), `address`, `email`;
  - `organisation`: `organisation_name`, optionally `credit_code` (GB 32100) and a contact person's
    `name`, `phone`, `address`, `email`;
  - `anonymous`: no identity at all. Accepted on every channel except `visit` (来访 registers the
    visitor by name). For `referral`/`assignment` it also means "the higher level did not pass the
    petitioner on to us". An anonymous case gets a random per-case pseudonym (see privacy.py).
- `assignment` {`from_unit`, `due_days`?}: the handover from a higher level.
  `channel == "assignment"` (交办) requires it with `due_days` (the result-report deadline);
  `channel == "referral"` (转送) requires it with `from_unit` only (a referral has no report deadline;
  when a report is due it is an assignment); every other channel must leave it out.
  Only an assignment's {from_unit, due_days} reaches the router (§4.3 has no field for a referrer).
- `summary` (1-2000 characters): goes to the router, so it must not contain personal data: identity
  numbers, phone numbers and e-mail addresses are refused anywhere in it, and so are the
  petitioner's own name, address and contacts. `content` (1-50000 characters): the full text,
  which may contain personal data and stays in intake.
- `received_at`? (ISO 8601 text with UTC offset, never an epoch number; defaults to now; not before
  1990 nor more than a few minutes in the future),
  `external_ref`? (the upstream system's own id, for idempotent resubmission).

Strings are stripped; unknown fields are refused; numbers are not coerced (`people_count` and
`due_days` refuse true, "5" and 5.0); control characters are refused in every string (validation.py);
every unit id must be a unit of the organisation directory (rules/directory.yaml, see checks.py).
Cross-field rules live in validation.py; use `validation.validate_submission` rather than
`Submission.model_validate` to get all of them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool

from services.common.field_checks import refuse_epoch
from services.common.schemas import CategoryCode, Channel, CountyCode, Litigation, RegionCode, UnitId
from services.intake.checks import (
    check_assigned_at,
    check_category,
    check_county,
    check_credit_code_field,
    check_email_field,
    check_id_number_field,
    check_phone_field,
    check_received_at,
    check_region,
    check_summary,
    check_unit,
)

PetitionerKind = Literal["person", "organisation", "anonymous"]

KnownRegion = Annotated[RegionCode, AfterValidator(check_region)]
KnownUnit = Annotated[UnitId, AfterValidator(check_unit)]
KnownCounty = Annotated[CountyCode, AfterValidator(check_county)]
KnownCategory = Annotated[CategoryCode, AfterValidator(check_category)]
IdNumber = Annotated[str, Field(min_length=1, max_length=32), AfterValidator(check_id_number_field)]
Phone = Annotated[str, Field(min_length=1, max_length=32), AfterValidator(check_phone_field)]
CreditCode = Annotated[str, Field(min_length=1, max_length=32), AfterValidator(check_credit_code_field)]
Email = Annotated[str, Field(min_length=3, max_length=254), AfterValidator(check_email_field)]
Name = Annotated[str, Field(min_length=1, max_length=64)]
Address = Annotated[str, Field(min_length=1, max_length=256)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Person(Model):
    kind: Literal["person"]
    name: Name
    id_number: IdNumber | None = None
    phone: Phone | None = None
    address: Address | None = None
    email: Email | None = None


class Organisation(Model):
    kind: Literal["organisation"]
    organisation_name: Annotated[str, Field(min_length=1, max_length=128)]
    credit_code: CreditCode | None = None
    name: Name | None = None  # contact person
    phone: Phone | None = None
    address: Address | None = None
    email: Email | None = None


class Anonymous(Model):
    kind: Literal["anonymous"]


Petitioner = Annotated[Person | Organisation | Anonymous, Field(discriminator="kind")]


class SubmittedLocation(Model):
    region: KnownRegion
    address: Address | None = None  # may be someone's home: stays in intake


class SubmittedResidence(Model):
    """人户分离: the county of the petitioner's household registration or habitual residence (no address)."""

    region: KnownCounty | None = None


class Handover(Model):
    """Where a referral or assignment came from, and an assignment's report deadline."""

    from_unit: KnownUnit
    due_days: int | None = Field(default=None, ge=1, le=365, strict=True)
    # 交办时间: the assignment report clock starts here when given, else at reception (§5).
    assigned_at: Annotated[AwareDatetime, AfterValidator(check_assigned_at)] | None = None


def _now() -> datetime:
    return datetime.now(UTC)


class Submission(Model):
    """一件信访事项的登记内容 / One petition as registered. Personal data (petitioner, address, content)
    stays in intake, encrypted; only routing facts, a pseudonym and the summary leave it."""

    channel: Channel = Field(
        description="渠道 / Channel: letter 来信, visit 来访, online 网上, phone 来电, email 电子邮件, "
        "mailbox 领导信箱, referral 上级转送, assignment 上级交办."
    )
    received_by: KnownUnit = Field(
        description="登记单位 <区划代码>:<部门> / Unit where it was registered, `<region>:<department>`.",
        examples=["150627:petition"],
    )
    category: KnownCategory = Field(description="问题分类 / Category code (DOMAIN.md §4.2).", examples=["wage_arrears"])
    location: SubmittedLocation = Field(description="事发地 / Where the matter arose.")
    petitioner: Petitioner = Field(
        description="信访人：person 个人、organisation 单位、anonymous 匿名（来访不可匿名）/ The petitioner: "
        "a person, an organisation, or anonymous (not on channel visit)."
    )
    people_count: int = Field(default=1, ge=1, le=100_000, strict=True, description="人数（人次）/ Number of people.")
    target_unit: KnownUnit | None = Field(default=None, description="被反映单位 / The unit complained about, if any.")
    litigation: Litigation = Field(
        default="none", description="涉法涉诉状态 / Status of any court, arbitration or reconsideration procedure."
    )
    assignment: Handover | None = Field(
        default=None,
        description="上级转送须填 from_unit；上级交办另须 due_days；其他渠道不填 / Referral: from_unit; "
        "assignment: from_unit and due_days; other channels: leave out.",
    )
    residence: SubmittedResidence | None = Field(
        default=None,
        description="户籍地或经常居住地所在县级区划（6位），用于人户分离标记，不填地址 / County (6-digit code) of the "
        "petitioner's registered or habitual residence, for the separation flag; never an address.",
    )
    new_facts: StrictBool = Field(
        default=False,
        description="对已终结事项提出新的事实和理由 / New facts or reasons about a matter already concluded.",
    )
    summary: Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(check_summary)] = Field(
        description="摘要，会发给路由，不得含身份证号、电话、邮箱或信访人姓名地址 / Summary; it goes to the router, "
        "so no identity numbers, phones, e-mails, nor the petitioner's name or address."
    )
    content: Annotated[str, Field(min_length=1, max_length=50_000)] = Field(
        description="正文，可含个人信息，加密保存于受理系统 / Full text; may hold personal data; kept encrypted."
    )
    received_at: Annotated[AwareDatetime, BeforeValidator(refuse_epoch), AfterValidator(check_received_at)] = Field(
        default_factory=_now,
        description="登记时间，须带时区；缺省为当前时间 / When it was received, with UTC offset; defaults to now.",
    )
    external_ref: Annotated[str, Field(min_length=1, max_length=128)] | None = Field(
        default=None, description="上游系统自己的编号 / The upstream system's own reference."
    )
