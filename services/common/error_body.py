"""The one shape of an HTTP error answer in every service: `{"errors": [{field, code, message_en,
message_zh}]}` (the items are services.common.field_errors.FieldError)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ErrorItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    field: str = Field(
        description="出错的字段（点分路径，如 petitioner.id_number；请求头名称；空串表示整个请求体）/ "
        "The field at fault: dotted path in the body, a header name, or empty for the whole body.",
        examples=["petitioner.id_number"],
    )
    code: str = Field(description="稳定的错误代码 / Stable error code.", examples=["id_number_checksum"])
    message_en: str = Field(
        description="English message.", examples=["The identity number's check character is wrong."]
    )
    message_zh: str = Field(description="中文提示。", examples=["身份证号码校验位错误。"])


class ErrorBody(BaseModel):
    model_config = ConfigDict(frozen=True)

    errors: list[ErrorItem] = Field(description="所有问题，一次列全 / Every problem found, all at once.")
