"""Base model for documents shared with other writers (the Go engine): nothing lost, nothing invented."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_serializer

# `int | float` keeps a written `3` as 3 and `0.05` as 0.05 on a round trip.
Number = int | float
NonNegative = Annotated[int | float, Field(ge=0, allow_inf_nan=False)]


class Model(BaseModel):
    """The base of every mova model: its validator is built when first used (defer_build).

    A command then pays only for the models it touches (start-up time): `mova dlq show` validates
    one entry, and most of the thirty-odd models are never built in a given process.
    """

    model_config = ConfigDict(defer_build=True)


class Doc(Model):
    """Unknown fields are kept; optional fields that were absent are not written back as null."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    @model_serializer(mode="wrap")
    def _drop_unset_nones(self, handler):
        data = handler(self)
        if isinstance(data, dict):
            # Only the fields never set can be dropped: look at those alone (usually a few).
            for name in _field_names(type(self)) - self.__pydantic_fields_set__:
                if data.get(name, _ABSENT) is None:
                    del data[name]
        return data


_ABSENT = object()
_FIELD_NAMES: dict[type, frozenset[str]] = {}


def _field_names(cls: type[BaseModel]) -> frozenset[str]:
    """A model class's field names, as a set (computed once per class)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = frozenset(cls.model_fields)
    return names
