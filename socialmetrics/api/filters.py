"""django-filter pieces every app's filters use: the FilterSet base, strict booleans and ISO dates.

django-filter's own BooleanFilter quietly ignores a value it cannot read (``is_core=maybe`` filters
nothing); these refuse it, so the API answers 400 naming the parameter.
"""

from __future__ import annotations

import datetime as dt

import django_filters
from django import forms
from drf_spectacular.utils import extend_schema_field

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


class FilterSet(django_filters.FilterSet):
    """The base of every filter set of the API.

    django-filter's REST framework backend formats each error message again with ``%`` (as
    ``message % params``), so a message quoting the client's value (``platform=%``) would raise
    instead of answering 400. Every message without parameters is passed as a parameter of its own,
    so whatever it quotes comes out as written.
    """

    @property
    def errors(self):
        errors = self.form.errors
        for error_list in errors.values():
            for error in error_list.as_data():
                if not error.params:
                    error.message, error.params = "%(message)s", {"message": error.message}
        return errors


class StrictBooleanField(forms.Field):
    def to_python(self, value):
        if value in (None, ""):
            return None
        if isinstance(value, bool):
            return value
        lowered = str(value).strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise forms.ValidationError(f"Expected true or false, got {value!r}.", code="invalid")


@extend_schema_field(
    {
        "anyOf": [{"type": "boolean"}, {"type": "string", "maxLength": 0}],
        "description": "true or false (also 1/0, yes/no; empty: no filter).",
    }
)
class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class IsoDateField(forms.Field):
    def to_python(self, value):
        if value in (None, ""):
            return None
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value).strip())
        except ValueError:
            raise forms.ValidationError(
                f"Expected a date as YYYY-MM-DD, got {value!r}.", code="invalid"
            ) from None


@extend_schema_field(
    {
        "anyOf": [{"type": "string", "format": "date"}, {"type": "string", "maxLength": 0}],
        "description": "YYYY-MM-DD, inclusive (empty: no bound).",
    }
)
class IsoDateFilter(django_filters.Filter):
    field_class = IsoDateField


def date_range_filters(*, field_name: str) -> dict[str, django_filters.Filter]:
    """``from`` and ``to`` (inclusive ISO dates); keywords in Python, so added by name."""
    return {
        "from": IsoDateFilter(field_name=field_name, lookup_expr="gte", label="From (YYYY-MM-DD, inclusive)"),
        "to": IsoDateFilter(field_name=field_name, lookup_expr="lte", label="To (YYYY-MM-DD, inclusive)"),
    }
