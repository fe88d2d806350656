"""The base of every config model: an unknown key is an error (a typo must not be ignored
for hours), values are not coerced (a quoted "2" is not 2), and a parsed config is frozen."""

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
