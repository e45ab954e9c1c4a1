"""Errors in one bilingual form for every service: `FieldError` items (carried by `SubmissionInvalid` in
intake), and `MESSAGES`, the one catalogue of error codes (intake's, the tracker's, the HTTP edge's).

Our own checks raise pydantic custom errors whose type is a code of `MESSAGES`, so pydantic collects
them together with its own structural errors; `field_errors_from_pydantic` turns the lot into
`FieldError`s. Messages never repeat the submitted value: it may be an identity number.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

# code -> (English, Chinese); placeholders come from the error's context.
MESSAGES: dict[str, tuple[str, str]] = {
    "region_unknown": (
        "Not an administrative division code in the official table (a 12-digit village code needs its town).",
        "行政区划代码不在官方区划表中（12位村级代码须属于已有的乡镇）。",
    ),
    "residence_not_county": (
        "Not a county-level (6-digit) division code in the official table.",
        "不是官方区划表中的县级（6位）行政区划代码。",
    ),
    "unit_region_unknown": (
        "The unit id's region part is not an administrative division code in the official table.",
        "单位标识中的行政区划代码不在官方区划表中。",
    ),
    "category_unknown": ("Unknown category {category!r}.", "未知的问题分类“{category}”。"),
    "id_number_format": (
        "An identity number has 18 characters: 17 digits, then a digit or X.",
        "身份证号码应为18位：17位数字，最后一位为数字或X。",
    ),
    "id_number_legacy": (
        "15-digit identity numbers are no longer valid; give the 18-digit number.",
        "15位身份证号码已停止使用，请填写18位号码。",
    ),
    "id_number_checksum": ("The identity number's check character is wrong.", "身份证号码校验位错误。"),
    "id_number_birth_date": (
        "The identity number does not contain a valid birth date.",
        "身份证号码中的出生日期无效。",
    ),
    "id_number_future": ("The identity number's birth date is in the future.", "身份证号码中的出生日期晚于今天。"),
    "id_number_region": (
        "The identity number does not start with a known province code.",
        "身份证号码的前两位不是已知的省级行政区划代码。",
    ),
    "credit_code_format": (
        "A unified social credit code has 18 characters (digits and capital letters except I, O, S, V, Z).",
        "统一社会信用代码应为18位（数字及除I、O、S、V、Z以外的大写字母）。",
    ),
    "credit_code_checksum": ("The credit code's check character is wrong.", "统一社会信用代码校验位错误。"),
    "phone_format": (
        "Not a mainland phone number: a mobile has 11 digits starting 13-19, a landline is area code + number.",
        "不是有效的大陆电话号码：手机号为1开头的11位数字，固定电话为区号加号码。",
    ),
    "email_format": ("Not an e-mail address.", "电子邮件地址格式不正确。"),
    "summary_personal_data": (
        "The summary must not contain {what}: it leaves intake. Put personal data in the petitioner "
        "fields or the content.",
        "摘要中不得包含{what_zh}（摘要会离开受理系统）。个人信息请填写在信访人字段或正文中。",
    ),
    "anonymous_not_allowed": (
        "Channel {channel!r} does not accept anonymous cases: a visitor is registered by name.",
        "“{channel_zh}”渠道不受理匿名信访：来访须登记来访人姓名。",
    ),
    "assignment_required": (
        "A {channel} case must name the unit it came from in assignment.from_unit.",
        "“{channel_zh}”事项须在 assignment.from_unit 中注明来文单位。",
    ),
    "assignment_not_allowed": (
        "Only referral and assignment cases come from another unit; leave assignment out.",
        "只有“上级转送”和“上级交办”事项可以填写 assignment。",
    ),
    "due_days_required": (
        "An assignment needs the result-report deadline in days (assignment.due_days).",
        "上级交办事项须注明办结报告期限天数（assignment.due_days）。",
    ),
    "due_days_not_allowed": (
        "A referral has no report deadline; use channel 'assignment' when a result report is due.",
        "上级转送事项不设报告期限；需要报送办理结果的，渠道应为“上级交办”。",
    ),
    "received_at_future": ("received_at is in the future.", "登记时间晚于当前时间。"),
    "assigned_at_future": ("assigned_at is in the future.", "交办时间晚于当前时间。"),
    "received_at_too_early": ("received_at is before {earliest}.", "登记时间早于{earliest}。"),
    # Bodies read within bounds (services.common.bounded) and strings without control characters.
    "control_character": (
        "Must not contain NUL or another control character (tab and line breaks are allowed).",
        "不得包含 NUL 等控制字符（制表符和换行除外）。",
    ),
    "too_large": ("The body is larger than allowed.", "请求体超过允许的大小。"),
    "too_deep": ("The body's JSON is nested too deep.", "请求体的 JSON 嵌套层数过多。"),
    "not_utf8": ("The body is not valid UTF-8.", "请求体不是有效的 UTF-8 编码。"),
    "number_out_of_range": (
        "The body holds a number beyond the range accepted (64-bit integers, finite decimals).",
        "请求体中的数值超出允许范围（64位整数、有限小数）。",
    ),
    # Authentication, scopes, idempotency (HTTP headers and Kafka envelopes).
    "api_key_missing": (
        "An API key is required: send it in the X-API-Key header.",
        "需要 API 密钥：请在 X-API-Key 请求头中提供。",
    ),
    "api_key_invalid": ("The API key is unknown or revoked.", "API 密钥无效或已被吊销。"),
    "role_forbidden": (
        "A client with role {role!r} may not {action} cases.",
        "“{role}”角色的客户端无权{action_zh}信访事项。",
    ),
    "channel_forbidden": (
        "This client may not submit {channel!r} cases.",
        "该客户端无权提交“{channel_zh}”渠道的信访事项。",
    ),
    "unit_forbidden": (
        "This client may not submit for unit {unit!r}: it is outside the client's scope.",
        "该客户端无权为单位“{unit}”登记信访事项（超出授权范围）。",
    ),
    "read_forbidden": (
        "This client may not read the cases of {unit!r}: it is outside the client's scope.",
        "该客户端无权查看“{unit}”的信访事项（超出授权范围）。",
    ),
    "source_unknown": (
        "The signing client is not registered to publish with this event source.",
        "签名的客户端未登记此事件来源（source）。",
    ),
    "signature_unsigned": (
        "The record is not signed (xf-partner and xf-signature headers).",
        "记录未签名（缺少 xf-partner、xf-signature 头）。",
    ),
    "signature_bad_signature": (
        "The record's signature does not verify.",
        "记录的签名无效。",
    ),
    "signature_unknown_partner": (
        "The record is signed by no active client with a signing key.",
        "签名者不是持有签名密钥的有效客户端。",
    ),
    "signature_stale_signature": (
        "The record was signed too long before it was published (a replay?).",
        "记录的签名时间与发布时间相差过大（疑为重放）。",
    ),
    "envelope_invalid": (
        "Not a case.submitted event: the envelope needs id, source and a data object.",
        "不是有效的 case.submitted 事件：信封须包含 id、source 和 data 对象。",
    ),
    "idempotency_conflict": (
        "This idempotency key was already used for case {case_id} with a different body.",
        "该幂等键已用于内容不同的信访事项 {case_id}。",
    ),
    "case_not_found": ("No such case, or not one this client may read.", "信访事项不存在，或无权查看。"),
    "unit_unknown": (
        "Not a unit of the organisation directory: <region code>:<department>, with a department that "
        "exists in that region (rules/directory.yaml).",
        "不是组织机构目录中的单位（<行政区划代码>:<部门>，且该地区设有此部门，见 rules/directory.yaml）。",
    ),
    "cursor_invalid": ("Not a cursor returned by this API.", "分页游标无效。"),
    # The tracker's actions (services.tracker.api).
    "act_forbidden": (
        "This client may not act for the unit that must act on this case now ({units}).",
        "该客户端无权代表当前须办理此件的单位（{units}）记录办理事项。",
    ),
    "transition_refused": ("{reason}", "当前环节不允许此操作（{kind}）：{reason}"),
    "transition_premature": (
        "Not yet: {reason}",
        "尚不能记录：{reason}",
    ),
    "at_invalid": ("{reason}", "时间无效：{reason}"),
    # The HTTP edge (services.common.http_edge), before a request reaches the API.
    "body_too_large": ("The request body is larger than {limit} bytes.", "请求体超过{limit}字节。"),
    "body_timeout": (
        "The request body did not arrive within {seconds} seconds.",
        "请求体未在{seconds}秒内传完。",
    ),
    "json_refused": (
        "The body is not JSON within bounds ({reason}): too deep, a number out of range, or not UTF-8.",
        "请求体不是符合限制的 JSON（{reason}）：嵌套过深、数值超出范围或不是 UTF-8 编码。",
    ),
    "content_length_invalid": ("The Content-Length header is not a number.", "Content-Length 请求头不是数字。"),
    "rate_limited": (
        "Too many requests from this {what}; retry after {retry_after} seconds.",
        "该{what_zh}的请求过多，请于{retry_after}秒后重试。",
    ),
    "locked_out": (
        "Too many wrong API keys from this address; retry after {retry_after} seconds.",
        "该地址使用错误的 API 密钥次数过多，请于{retry_after}秒后重试。",
    ),
    "unavailable": (
        "The service cannot reach its database now; retry after {retry_after} seconds.",
        "服务暂时无法访问数据库，请于{retry_after}秒后重试。",
    ),
    # Pydantic's own error types.
    "missing": ("This field is required.", "此项为必填项。"),
    "extra_forbidden": ("Unknown field.", "不允许的字段。"),
    "string_type": ("Must be text.", "应为文本。"),
    "string_too_short": ("Must have at least {min_length} character(s).", "至少需要{min_length}个字符。"),
    "string_too_long": ("Must have at most {max_length} characters.", "不能超过{max_length}个字符。"),
    "string_pattern_mismatch": ("Does not have the required form {pattern}.", "格式不符合要求：{pattern}。"),
    "literal_error": ("Must be one of {expected}.", "应为以下之一：{expected}。"),
    "int_type": ("Must be a whole number.", "应为整数。"),
    "int_parsing": ("Must be a whole number.", "应为整数。"),
    "int_from_float": ("Must be a whole number.", "应为整数。"),
    "greater_than_equal": ("Must be at least {ge}.", "不能小于{ge}。"),
    "less_than_equal": ("Must be at most {le}.", "不能大于{le}。"),
    "bool_type": ("Must be true or false.", "应为 true 或 false。"),
    "bool_parsing": ("Must be true or false.", "应为 true 或 false。"),
    "datetime_type": ("Must be an ISO-8601 date and time.", "应为 ISO-8601 格式的日期时间。"),
    "datetime_parsing": ("Must be an ISO-8601 date and time.", "应为 ISO-8601 格式的日期时间。"),
    "datetime_from_date_parsing": ("Must be an ISO-8601 date and time.", "应为 ISO-8601 格式的日期时间。"),
    "timezone_aware": ("Must include a UTC offset, e.g. +08:00.", "须带时区偏移，例如 +08:00。"),
    "model_type": ("Must be an object.", "应为对象。"),
    "list_type": ("Must be a list.", "应为列表。"),
    "too_short": ("Must have at least {min_length} item(s).", "至少需要{min_length}项。"),
    "too_long": ("Must have at most {max_length} items.", "最多{max_length}项。"),
    "model_attributes_type": ("Must be an object.", "应为对象。"),
    "dict_type": ("Must be an object.", "应为对象。"),
    "union_tag_invalid": ("kind must be one of {expected_tags}.", "kind 应为以下之一：{expected_tags}。"),
    "union_tag_not_found": ("kind is required.", "缺少 kind。"),
    "json_invalid": ("The body is not valid JSON.", "请求体不是有效的 JSON。"),
    "record_refused": (
        "The record was refused before parsing: {reason}.",
        "消息在解析前被拒绝：{reason}。",
    ),
    "record_failed": (
        "The record could not be processed ({reason}); it was tried {attempts} times.",
        "消息无法处理（{reason}），已尝试 {attempts} 次。",
    ),
    "json_type": ("The body must be a JSON object.", "请求体应为 JSON 对象。"),
}
_FALLBACK_ZH = "取值无效。"
# Tags of discriminated unions that pydantic puts into error locations; not fields of the body.
_UNION_TAGS = frozenset({"person", "organisation", "anonymous"})


@dataclass(frozen=True)
class FieldError:
    field: str  # dotted path, e.g. "petitioner.id_number"; "" for the body as a whole
    code: str
    message_en: str
    message_zh: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


class SubmissionInvalid(ValueError):
    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors: list[FieldError] = list(errors)
        super().__init__("; ".join(f"{error.field or '(body)'}: {error.message_en}" for error in self.errors))


def field_error(field: str, code: str, /, **context: Any) -> FieldError:
    """Error `code` (a key of `MESSAGES`) on `field`, its texts filled in from `context`."""
    english, chinese = MESSAGES[code]
    return FieldError(field, code, english.format(**context), chinese.format(**context))


def custom_error(code: str, **context: Any) -> PydanticCustomError:
    """A pydantic error carrying one of our codes; its English text is the one in `MESSAGES`."""
    # Pre-formatted: pydantic's own templating knows no "!r".
    return PydanticCustomError(code, MESSAGES[code][0].format(**context), context)


def field_errors_from_pydantic(
    errors: ValidationError | Iterable[Mapping[str, Any]], *, strip_prefix: tuple[str, ...] = ()
) -> list[FieldError]:
    """Pydantic's errors (or FastAPI's, with `strip_prefix=("body",)`) as `FieldError`s."""
    items = errors.errors() if isinstance(errors, ValidationError) else errors
    result: list[FieldError] = []
    for item in items:
        location = [str(part) for part in item.get("loc", ())]
        if strip_prefix and tuple(location[: len(strip_prefix)]) == strip_prefix:
            location = location[len(strip_prefix) :]
        if len(location) > 1 and location[0] == "petitioner" and location[1] in _UNION_TAGS:
            del location[1]
        field, code = ".".join(location), str(item.get("type", "value_error"))
        try:
            result.append(field_error(field, code, **(item.get("ctx") or {})))
        except (KeyError, IndexError, ValueError):  # not one of our codes, or its text needs what ctx lacks
            result.append(FieldError(field, code, str(item.get("msg", "Invalid value.")), _FALLBACK_ZH))
    return result
