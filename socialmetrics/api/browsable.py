"""REST framework's browsable API, with the filter form and page links on this API's lists.

The list endpoints answer ``{"data": [...], "pagination": {"page", "per_page", "total", "pages"}}``
(the earlier tracker's shape, `socialmetrics.api.pagination`) or, for the grid's cursor pages,
``{"data": [...], "pagination": {"next_cursor"}}``, without a REST framework paginator. REST
framework's renderer shows the "Filters" form only for a plain list or a paginator's page, and page
links only from a paginator, so it would show neither; this renderer reads both from the response.
"""

from __future__ import annotations

from django.template import loader
from rest_framework import renderers
from rest_framework.pagination import _get_displayed_page_numbers, _get_page_links
from rest_framework.utils.urls import remove_query_param, replace_query_param


def _page(data) -> tuple[list, dict] | None:
    """(rows, pagination) of a list endpoint's answer, or None for any other answer."""
    if (
        isinstance(data, dict)
        and isinstance(data.get("data"), list)
        and isinstance(data.get("pagination"), dict)
    ):
        return data["data"], data["pagination"]
    return None


class PageLinks:
    """What the browsable API's `get_pagination_html` needs from a paginator, from a page's
    ``pagination`` object: numbered links (page pages) or a next link (cursor pages)."""

    display_page_controls = True

    def __init__(self, *, url: str, pagination: dict) -> None:
        self.url, self.pagination = url, pagination

    @classmethod
    def of(cls, *, data, request) -> PageLinks | None:
        page = _page(data)
        if page is None or request is None:
            return None
        pagination = page[1]
        if not isinstance(pagination.get("pages"), int) and "next_cursor" not in pagination:
            return None
        return cls(url=request.build_absolute_uri(), pagination=pagination)

    def _page_url(self, number: int) -> str:
        if number == 1:
            return remove_query_param(self.url, "page")
        return replace_query_param(self.url, "page", number)

    def to_html(self) -> str:
        if "next_cursor" in self.pagination:
            cursor = self.pagination["next_cursor"]
            context = {
                "previous_url": None,
                "next_url": replace_query_param(self.url, "cursor", cursor) if cursor else None,
            }
            return loader.get_template("rest_framework/pagination/previous_and_next.html").render(context)
        final, current = self.pagination["pages"], self.pagination.get("page", 1)
        if final < 1:
            return ""
        shown = min(current, final)  # a page past the end links back to the last one
        numbers = _get_displayed_page_numbers(shown, final)
        context = {
            "previous_url": self._page_url(min(current - 1, final)) if current > 1 else None,
            "next_url": self._page_url(current + 1) if current < final else None,
            "page_links": _get_page_links(numbers, current, self._page_url),
        }
        return loader.get_template("rest_framework/pagination/numbers.html").render(context)


class BrowsableAPIRenderer(renderers.BrowsableAPIRenderer):
    """The browsable API, with the "Filters" form and page links on the ``{"data", "pagination"}``
    lists (see the module's docstring)."""

    def get_filter_form(self, data, view, request):
        page = _page(data)
        return super().get_filter_form(page[0] if page is not None else data, view, request)

    def get_context(self, data, accepted_media_type, renderer_context):
        context = super().get_context(data, accepted_media_type, renderer_context)
        if context.get("paginator") is None:
            context["paginator"] = PageLinks.of(data=data, request=renderer_context.get("request"))
        return context
