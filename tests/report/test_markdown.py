"""The Markdown report as GitHub would render it: KPI table, escaping, size bound."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt
from report_projects import ANSI_MESSAGE, HOSTILE_ID, HOSTILE_IMG, MANY

from passcycle.report import build_context, render_markdown
from passcycle.report.markdown import MAX_BYTES, MAX_FAILURES, md_code, md_text
from passcycle.targets import format_value

# What our own Markdown may produce as HTML; anything else came from a test.
ALLOWED_TAGS = {
    "h2",
    "h3",
    "p",
    "ul",
    "ol",
    "li",
    "strong",
    "em",
    "sub",
    "br",
    "details",
    "summary",
}
ALLOWED_TAGS |= {"table", "thead", "tbody", "tr", "th", "td", "code", "pre"}


class Tags(HTMLParser):
    """The elements of rendered HTML, and the text of each table row."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def render(text: str) -> Tags:
    # GitHub's flavour: tables, and raw HTML allowed (then sanitised): the strict case for us
    html = MarkdownIt("commonmark", {"html": True}).enable("table").render(text)
    parser = Tags()
    parser.feed(html)
    parser.html = html  # type: ignore[attr-defined]
    return parser


def test_the_kpi_table_renders_with_the_judged_values(shop):
    with shop.history() as history:
        ctx = build_context(shop.plan, history, shop.latest)
    text = render_markdown(ctx)
    parsed = render(text)
    kpi_rows = {row[0]: row for row in parsed.rows if row and row[0] in ctx.trends}
    assert set(kpi_rows) == {"test_pass_rate", "coverage", "suite_duration"}
    for kpi in ctx.verdict.kpis:
        row = kpi_rows[kpi.name]
        assert row[1] == kpi.target
        assert row[2] == format_value(kpi.value, kpi.unit)
        assert row[3] == format_value(kpi.baseline, kpi.unit)  # run 1 is the baseline
    assert kpi_rows["test_pass_rate"][5] == "❌ fail"
    assert kpi_rows["suite_duration"][5] == "✅ pass"
    assert text.startswith(f"## ❌ gate failed — shop, run {shop.latest.id}")


def test_nothing_from_a_test_becomes_markup(shop):
    with shop.history() as history:
        text = render_markdown(build_context(shop.plan, history, shop.latest))
    parsed = render(text)
    assert set(parsed.tags) <= ALLOWED_TAGS, set(parsed.tags) - ALLOWED_TAGS
    assert "<script" not in parsed.html  # type: ignore[attr-defined]
    assert "<img" not in parsed.html  # type: ignore[attr-defined]
    assert "<b>" not in parsed.html  # type: ignore[attr-defined]
    assert "<a " not in parsed.html  # type: ignore[attr-defined]
    # ...yet the reader sees the names and the message as written, minus terminal codes
    assert HOSTILE_ID in text and HOSTILE_IMG in text  # inside code spans
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in parsed.html  # type: ignore[attr-defined]
    assert "\x1b" not in text and "\x00" not in text and "\x07" not in text
    assert "red \\| \\`tick\\` &lt;b&gt;bold&lt;/b&gt;" in text
    assert "@\u2060team" in text  # no mention
    failures_table = [r for r in parsed.rows if r and r[0].startswith("tests/")]
    assert failures_table and all(len(row) == 4 for row in failures_table)  # no pipe split a row
    assert ANSI_MESSAGE not in text


@pytest.mark.parametrize(
    "hostile",
    [
        "a | b | c",
        "`` double ` single ```",
        "<script>alert(1)</script>",
        "[x](javascript:alert(1))",
        "**bold** _em_ ~~s~~ $math$",
        "line\nbreak\r\n| --- |",
        "\\| escaped pipe \\",
        "` starts and ends `",
    ],
)
def test_a_hostile_string_stays_one_plain_table_cell(hostile):
    table = (
        "| a | b | c |\n|---|---|---|\n"
        + f"| {md_text(hostile)} | {md_code(hostile, cell=True)} | z |\n"
    )
    parsed = render(table)
    assert parsed.rows[1][2] == "z"
    assert len(parsed.rows[1]) == 3
    assert set(parsed.tags) <= {"table", "thead", "tbody", "tr", "th", "td", "code"}
    plain = " ".join(hostile.split())
    assert parsed.rows[1][0] == plain
    assert parsed.rows[1][1].strip() == plain.strip()


@pytest.mark.slow
def test_a_thousand_failures_stay_under_the_comment_limit(many_failures):
    with many_failures.history() as history:
        ctx = build_context(many_failures.plan, history, many_failures.latest)
    assert len(ctx.failures) == MANY
    text = render_markdown(ctx)
    size = len(text.encode("utf-8"))
    assert size < MAX_BYTES, size
    assert f"… and {MANY - MAX_FAILURES} more — see the HTML report" in text
    parsed = render(text)
    listed = [r for r in parsed.rows if r and r[0].startswith("tests/test_many_")]
    assert len(listed) == MAX_FAILURES
    assert f"### Top issues ({ctx.verdict.top} of " in text
    assert set(parsed.tags) <= ALLOWED_TAGS


def test_scenarios_and_their_faults_are_listed(shop):
    with shop.history() as history:
        text = render_markdown(build_context(shop.plan, history, shop.latest))
    parsed = render(text)
    rows = {row[0]: row for row in parsed.rows if row and row[0] == "steady-100"}
    # the scenario's own p95 (180 ms in the latest run), not its slow step's
    assert rows["steady-100"][1:] == ["—", "6000", "180ms", "0.50%"]
    assert "faults: model down ×7 — during: errors 12.50%, p95 720ms" in text
    assert "evil</script>" not in parsed.html  # type: ignore[attr-defined]
    # the scenario whose load generator was the bottleneck is marked, and said what it means
    [bound] = [row for row in parsed.rows if row and row[0].endswith("⚠ generator-bound")]
    assert bound[0].startswith("evil")
    assert "⚠ generator-bound: the load generator's own queueing is in its times" in text
