"""Pages for every reader, in Chromium with a de-DE locale, on a phone (390 x 844) and a desktop
(1366 x 768), in the light and the dark scheme: numbers and dates in the browser's locale (345.083,
01.03.2026), nothing wider than the screen (wide tables scroll inside their card), the scheme's
colours with readable contrast (the charts' too, following a change of scheme), every control
reachable with Tab and showing where the focus is, and each chart's data as a table."""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal

import pytest

from socialmetrics.dates import local_today

from .browser import DESKTOP, PHONE, api, screenshot, sign_in

pytestmark = pytest.mark.e2e

LOCALE = "de-DE"
SIZES = {"phone": PHONE, "desktop": DESKTOP}
# static/css/app.css: --bg and --panel, and the charts' --chart-text and --series-1, per scheme.
SCHEMES = {
    "light": {
        "bg": "rgb(244, 246, 249)",
        "panel": "rgb(255, 255, 255)",
        "text": "#5b6678",
        "series": "#2563eb",
    },
    "dark": {"bg": "rgb(13, 17, 23)", "panel": "rgb(22, 27, 34)", "text": "#9da7b3", "series": "#6cb6ff"},
}
MILLIONS = re.compile(r"\d{1,3}(,\d)?\u00a0(Mio\.|Mrd\.)")  # de-DE's short form: "58,6 Mio."

# Every chart's data as a table: its rows (ISO day, then each series' value as data-value and as text)
# beside the chart's own labels and data.
CHART_AND_TABLE = """(id) => {
  const canvas = document.getElementById(id);
  const chart = Chart.getChart(canvas);
  const details = document.getElementById(canvas.getAttribute('aria-details'));
  if (!chart || !details) return null;
  return {
    details: details.id,
    hidden: details.hidden,
    summary: details.querySelector('summary').textContent,
    labels: chart.data.labels,
    series: chart.data.datasets.map((d) => d.data),
    names: chart.data.datasets.map((d) => d.label),
    head: [...details.querySelectorAll('thead th')].map((th) => th.textContent),
    rows: [...details.querySelectorAll('tbody tr')].map((tr) => ({
      date: tr.querySelector('time').dateTime,
      day: tr.querySelector('time').textContent,
      values: [...tr.querySelectorAll('td.num')].map((td) => td.dataset.value),
      texts: [...tr.querySelectorAll('td.num')].map((td) => td.textContent),
    })),
  };
}"""

# Text colour against the first opaque background behind it, as WCAG computes contrast.
CONTRAST = """(selectors) => {
  const rgb = (text) => text.match(/[\\d.]+/g).map(Number);
  const luminance = ([r, g, b]) => {
    const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (node) => {
    for (; node; node = node.parentElement) {
      const color = rgb(getComputedStyle(node).backgroundColor);
      if (color.length < 4 || color[3] === 1) return color;
    }
    return [255, 255, 255];
  };
  const out = {};
  for (const selector of selectors) {
    const node = [...document.querySelectorAll(selector)].find((n) => n.getClientRects().length);
    if (!node) continue;
    const a = luminance(rgb(getComputedStyle(node).color));
    const b = luminance(background(node));
    out[selector] = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  }
  return out;
}"""

TEXTS = [
    "body",
    "h1",
    ".meta",
    "main a",
    ".card-label",
    ".card-sub",
    ".table thead th",
    ".table tbody td",
    ".btn",
    ".btn-primary",
    ".change-up",
    ".change-down",
    ".badge",
    ".tag",
    ".chart-data summary",
    ".mainnav a",
    "label",
    "input",
    "select",
]

# Every table sits in a wrapper that scrolls sideways and fits the screen.
TABLES_IN_CARDS = """() => {
  const shown = [...document.querySelectorAll('main table')].filter((t) => t.getClientRects().length);
  const width = document.documentElement.clientWidth;
  return shown.map((table) => {
    let wrap = table.parentElement;
    while (wrap && !['auto', 'scroll'].includes(getComputedStyle(wrap).overflowX)) wrap = wrap.parentElement;
    return {id: table.id || table.className, wrapped: Boolean(wrap),
            fits: Boolean(wrap) && wrap.getBoundingClientRect().right <= width + 0.5};
  });
}"""

# Landmarks, a name for every control, and a data table for every chart drawn.
STRUCTURE = """() => {
  const named = (node) => Boolean(
    (node.labels && node.labels.length) || node.getAttribute('aria-label')
    || node.getAttribute('aria-labelledby')
    || (node.tagName !== 'INPUT' && node.tagName !== 'SELECT' && node.textContent.trim()));
  const selector = 'button, input:not([type=hidden]), select, textarea, a[href]';
  const controls = [...document.querySelectorAll(selector)].filter((node) => node.getClientRects().length);
  return {
    banner: document.querySelectorAll('body > header').length,
    main: document.querySelectorAll('main').length,
    navigation: [...document.querySelectorAll('nav')].every((nav) => nav.getAttribute('aria-label')),
    contentinfo: document.querySelectorAll('body > footer').length,
    unnamed: controls.filter((node) => !named(node)).map((node) => node.outerHTML.slice(0, 80)),
    charts: [...document.querySelectorAll('main canvas')].filter((c) => window.Chart && Chart.getChart(c))
      .map((c) => ({id: c.id, table: Boolean(document.getElementById(c.getAttribute('aria-details'))
        && document.getElementById(c.getAttribute('aria-details')).querySelector('table'))})),
  };
}"""

FOCUSED = """(selectors) => {
  const node = document.activeElement;
  const style = getComputedStyle(node);
  return {
    matches: Object.entries(selectors).filter(([, s]) => node.matches(s)).map(([name]) => name),
    what: node.id || node.dataset.range || node.dataset.mode || `${node.tagName}.${node.className}`,
    ring: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2,
  };
}"""


def de(value: int) -> str:
    """A whole number as de-DE writes it: 345083 → "345.083"."""
    return f"{value:,}".replace(",", ".")


def de_decimal(value: float) -> str:
    """A number with one decimal as de-DE writes it: 101.85 → "101,9" (Intl rounds half away from
    zero, on the shortest decimal that reads back as the float, as repr() writes it)."""
    return str(Decimal(repr(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)).replace(".", ",")


def de_day(iso: str) -> str:
    """A day as de-DE writes it (dateStyle "medium"): 2026-03-01 → "01.03.2026"."""
    return dt.date.fromisoformat(iso).strftime("%d.%m.%Y")


def followers_card(page):
    return page.locator("#account-cards .card").filter(
        has=page.locator(".card-label", has_text=re.compile(r"^Followers$"))
    )


def check_layout(page, *, scheme: str, size: str):
    width = SIZES[size]["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{page.url} scrolls sideways"
    for table in page.evaluate(TABLES_IN_CARDS):
        assert table["wrapped"], f"{page.url}: table {table['id']} is not inside a scrolling card"
        assert table["fits"], f"{page.url}: the card of table {table['id']} is wider than the screen"
    colours = SCHEMES[scheme]
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == colours["bg"]
    assert (
        page.evaluate("getComputedStyle(document.querySelector('.panel, .card')).backgroundColor")
        == colours["panel"]
    )
    low = {sel: round(ratio, 2) for sel, ratio in page.evaluate(CONTRAST, TEXTS).items() if ratio < 4.5}
    assert not low, f"{page.url} ({scheme}): text below 4.5:1 contrast: {low}"
    structure = page.evaluate(STRUCTURE)
    assert (structure["banner"], structure["main"], structure["contentinfo"]) == (1, 1, 1)
    assert structure["navigation"], f"{page.url}: a <nav> without a label"
    assert not structure["unnamed"], f"{page.url}: controls without a name: {structure['unnamed']}"
    for chart in structure["charts"]:
        assert chart["table"], f"{page.url}: chart #{chart['id']} has no data table"


def shoot(page, name: str):
    """A screenshot without the focus ring the Tab walk left behind."""
    page.evaluate("() => document.activeElement.blur()")
    screenshot(page, name)


def tab_to(page, controls: dict[str, str], *, limit: int = 120) -> list[str]:
    """Press Tab from the top of the page until every control was focused; each shows a focus ring."""
    page.evaluate("() => { document.activeElement.blur(); window.scrollTo(0, 0); }")
    missing = set(controls)
    path = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED, controls)
        path.append(focused["what"])
        assert focused["ring"], f"{page.url}: no visible focus ring on {focused['what']}"
        missing -= set(focused["matches"])
        if not missing:
            return path
    raise AssertionError(f"{page.url}: Tab never reaches {sorted(missing)}; it went {path}")


def check_chart_table(page, canvas_id: str, *, scheme: str, format_value=de):
    data = page.evaluate(CHART_AND_TABLE, canvas_id)
    assert data, f"#{canvas_id} has no chart or no data table"
    assert data["details"] == f"{canvas_id}-data"
    assert not data["hidden"]
    assert data["summary"].startswith("Data table")
    assert data["head"][: 1 + len(data["names"])] == ["Date", *data["names"]]
    assert [row["date"] for row in data["rows"]] == data["labels"]
    assert data["labels"], f"#{canvas_id} has no days"
    for i, row in enumerate(data["rows"]):
        assert row["day"] == de_day(row["date"])
        for values, text, value in zip(data["series"], row["texts"], row["values"], strict=True):
            expected = values[i]
            assert value == ("" if expected is None else str(expected).removesuffix(".0"))
            assert text == ("—" if expected is None else format_value(expected))
    chart = f"Chart.getChart(document.getElementById('{canvas_id}'))"
    assert page.evaluate(f"{chart}.options.scales.y.ticks.color") == SCHEMES[scheme]["text"]
    return data


@pytest.mark.parametrize("size", ["phone", "desktop"])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_pages_for_every_reader(pages, staff_user, scheme, size):
    page = pages.new(viewport=SIZES[size], locale=LOCALE, color_scheme=scheme)
    shot = f"{size}-{SIZES[size]['width']}x{SIZES[size]['height']}-{scheme}"
    assert page.evaluate("navigator.language") == LOCALE

    # --- The overview -------------------------------------------------------------------------
    page.goto("/")
    page.wait_for_selector('#totals[aria-busy="false"] .card[data-metric="followers"]')
    page.wait_for_selector("#accounts .account-row a")
    page.wait_for_selector("#by-platform table")
    tab_to(
        page,
        {
            "refresh": "#refresh",
            "search": "#account-search",
            "platform": "#account-platform",
            "organization": "#account-organization",
            "core": "#account-core",
            "account": ".account-link",
        },
    )
    totals = api(page, "/api/summary/totals")["total"]
    followers = page.locator('#totals .card[data-metric="followers"]')
    assert followers.locator(".card-sub").inner_text() == de(totals["followers"])
    assert followers.locator("data").get_attribute("title") == de(totals["followers"])
    assert MILLIONS.fullmatch(followers.locator("data").inner_text())
    for row in page.locator("#by-platform tbody tr").all():
        cell = row.locator("td data").first
        assert cell.get_attribute("title") == de(int(cell.get_attribute("value")))
    for node in page.locator("#accounts .account-followers").all():
        value = int(node.get_attribute("value"))
        assert node.get_attribute("title") == de(value)
        assert node.inner_text() == (de(value) if value < 1_000_000 else node.inner_text())
        assert value < 1_000_000 or MILLIONS.fullmatch(node.inner_text())
    latest = page.locator("#as-of-date")
    assert latest.inner_text() == de_day(latest.get_attribute("datetime"))
    check_layout(page, scheme=scheme, size=size)
    shoot(page, f"readers-overview-{shot}")

    # --- An account ---------------------------------------------------------------------------
    page.goto("/accounts/x/healthdept/")
    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('followers-chart'))")
    page.locator("#engagement-chart").scroll_into_view_if_needed()
    page.wait_for_function("() => Chart.getChart(document.getElementById('engagement-chart'))")
    page.wait_for_selector("#snapshots-table")
    account = api(page, "/api/accounts?platform=x&handle=healthdept")["data"][0]
    assert followers_card(page).locator(".card-sub").inner_text() == de(account["latest"]["followers"])
    first = page.locator("#snapshots-table tbody tr").first
    day = first.locator("th time").get_attribute("datetime")
    assert first.locator("th").inner_text() == de_day(day)
    history = api(page, f"/api/history/x/healthdept?from={day}&to={day}")
    assert first.locator("td").first.inner_text().strip().endswith(de(history["followers"][0]))
    followers_table = check_chart_table(page, "followers-chart", scheme=scheme)
    assert followers_table["head"][:2] == ["Date", "Followers"]
    assert any(
        int(v) >= 1000 and "." in t
        for r in followers_table["rows"]
        for v, t in zip(r["values"], r["texts"], strict=True)
        if v
    )
    engagement = check_chart_table(page, "engagement-chart", scheme=scheme)
    assert engagement["names"] == ["Likes", "Comments", "Shares"]
    assert (
        page.evaluate(
            "Chart.getChart(document.getElementById('followers-chart')).data.datasets[0].borderColor"
        )
        == SCHEMES[scheme]["series"]
    )
    tab_to(
        page,
        {
            "30 days": '#range-buttons [data-range="30"]',
            "all": '#range-buttons [data-range="all"]',
            "compare": "#compare-link",
            "followers data": "#followers-chart-data > summary",
            "engagement data": "#engagement-chart-data > summary",
        },
    )
    check_layout(page, scheme=scheme, size=size)
    shoot(page, f"readers-account-{shot}")
    # The table opens from the keyboard and scrolls inside its card.
    page.locator("#followers-chart-data > summary").focus()
    page.keyboard.press("Enter")
    assert page.locator("#followers-chart-data").get_attribute("open") is not None
    assert page.locator("#followers-chart-data table").is_visible()
    check_layout(page, scheme=scheme, size=size)

    # --- Compare ------------------------------------------------------------------------------
    page.goto("/compare/?a=x:healthdept&a=facebook:healthdept")
    page.wait_for_function("() => document.getElementById('compare-chart').dataset.series === '2'")
    compared = check_chart_table(page, "compare-chart", scheme=scheme)
    assert compared["names"] == ["X @healthdept", "Facebook @healthdept"]
    tab_to(
        page,
        {
            "search": "#compare-search",
            "remove": ".chip-remove",
            "indexed": '[data-mode="indexed"]',
            "range": '#compare-range [data-range="365"]',
            "data": "#compare-chart-data > summary",
        },
    )
    page.get_by_role("button", name="Indexed (start = 100)").click()
    page.wait_for_function(
        "() => Chart.getChart(document.getElementById('compare-chart'))"
        ".data.datasets[0].data.find(v => v !== null) === 100"
    )
    indexed = check_chart_table(page, "compare-chart", scheme=scheme, format_value=de_decimal)
    assert indexed["rows"][0]["texts"][0] == "100,0"
    check_layout(page, scheme=scheme, size=size)
    shoot(page, f"readers-compare-{shot}")

    # --- The grid -----------------------------------------------------------------------------
    page.goto("/grid/?platform=x")
    page.wait_for_selector('#grid-table[data-page="1"]')
    page.wait_for_selector('#grid-body[aria-busy="false"] tr td time')
    grid = api(page, "/api/grid?platform=x&page=1&per_page=50")
    status = page.locator("#grid-status").inner_text()
    assert status.startswith(f"{de(grid['pagination']['total'])} rows"), status
    rows = page.locator("#grid-body tr")
    assert rows.count() == len(grid["data"])
    for i in (0, len(grid["data"]) - 1):
        cells = rows.nth(i).locator("td")
        assert cells.nth(3).inner_text() == de_day(grid["data"][i][3])
        assert cells.nth(4).inner_text().strip().endswith(de(grid["data"][i][4]))
    tab_to(
        page,
        {
            "download": "#download",
            "platform": "#grid-platform",
            "from": "#grid-from",
            "to": "#grid-to",
            "core": "#grid-core",
            "per page": "#grid-per-page",
            "sort": 'th[data-column="followers"] button.sort',
            "next page": '#grid-pager [data-page="next"]',
            "page": "#grid-page",
        },
        limit=160,
    )
    check_layout(page, scheme=scheme, size=size)
    shoot(page, f"readers-grid-{shot}")

    # --- Upload (staff) -----------------------------------------------------------------------
    sign_in(page, "editor", next_path="/upload")
    page.wait_for_selector("#upload-form")
    tab_to(page, {"file": "#upload-file", "upload": "#upload-submit"})
    check_layout(page, scheme=scheme, size=size)
    today = local_today()
    lines = [
        "Platform,Handle,Date,Followers,Following,Likes",
        f"X,healthdept,{today - dt.timedelta(days=400)},1234567,890,12",
        f"X,healthdep,{today},2345678,,",  # a typo of an existing handle: a new account, "did you mean"
        "X,brokenrow,not-a-date,12,,",
        f"Nowhere,someone,{today},1,,",
    ]
    page.set_input_files(
        "#upload-file",
        files=[{"name": "readers.csv", "mimeType": "text/csv", "buffer": "\n".join(lines).encode()}],
    )
    # Choosing the file previews what the upload would do; its tables scroll inside the card too.
    page.wait_for_selector("#upload-preview table")
    check_layout(page, scheme=scheme, size=size)
    shoot(page, f"readers-upload-preview-{shot}")
    page.locator("#upload-submit").click()
    page.wait_for_selector("#upload-report table")
    check_layout(page, scheme=scheme, size=size)
    shoot(page, f"readers-upload-{shot}")


def test_a_change_of_scheme_recolours_the_open_page_and_its_charts(pages):
    page = pages.new(locale=LOCALE, color_scheme="light")
    page.goto("/accounts/x/healthdept/")
    chart = "Chart.getChart(document.getElementById('followers-chart'))"
    page.wait_for_function(f"() => window.Chart && {chart}")
    assert page.evaluate(f"{chart}.data.datasets[0].borderColor") == SCHEMES["light"]["series"]
    assert page.evaluate("document.documentElement.dataset.chartScheme") == "light"

    page.emulate_media(color_scheme="dark")
    page.wait_for_function("() => document.documentElement.dataset.chartScheme === 'dark'")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == SCHEMES["dark"]["bg"]
    assert page.evaluate(f"{chart}.data.datasets[0].borderColor") == SCHEMES["dark"]["series"]
    assert page.evaluate(f"{chart}.options.scales.y.ticks.color") == SCHEMES["dark"]["text"]
    # The engagement bars too, each series in the dark scheme's tone of its colour.
    page.locator("#engagement-chart").scroll_into_view_if_needed()
    page.wait_for_function("() => Chart.getChart(document.getElementById('engagement-chart'))")
    bars = page.evaluate(
        "Chart.getChart(document.getElementById('engagement-chart'))"
        ".data.datasets.map(d => d.backgroundColor)"
    )
    assert bars == ["#6cb6ff", "#e3b341", "#3fb950"]
    # The data table is still there, and the same.
    check_chart_table(page, "followers-chart", scheme="dark")

    page.emulate_media(color_scheme="light")
    page.wait_for_function("() => document.documentElement.dataset.chartScheme === 'light'")
    assert page.evaluate(f"{chart}.data.datasets[0].borderColor") == SCHEMES["light"]["series"]
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == SCHEMES["light"]["bg"]


@pytest.mark.parametrize(
    ("locale", "grouped"),
    [
        ("en-US", lambda v: f"{v:,}"),
        ("de-DE", de),
        ("fr-FR", lambda v: f"{v:,}".replace(",", "\u202f")),
    ],
)
def test_numbers_follow_the_browsers_locale(pages, locale, grouped):
    """No fixed locale: the same page writes the same number as each browser's locale does."""
    page = pages.new(locale=locale)
    page.goto("/accounts/x/healthdept/")
    page.wait_for_selector("#account-cards .card .card-sub")
    followers = api(page, "/api/accounts?platform=x&handle=healthdept")["data"][0]["latest"]["followers"]
    assert followers >= 1000
    assert followers_card(page).locator(".card-sub").inner_text() == grouped(followers)
    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('followers-chart'))")
    rows = page.evaluate(CHART_AND_TABLE, "followers-chart")["rows"]
    assert rows[-1]["texts"][0] == grouped(int(rows[-1]["values"][0]))
