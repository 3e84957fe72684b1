"""The shared SVG charts: well-formed, escaped, CSP-safe (no style attributes)."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from app.core import charts

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    root = ET.fromstring(str(markup))
    assert root.tag == f"{SVG}svg" and root.find(f"{SVG}title") is not None
    assert "style=" not in str(markup)
    return root


def test_every_chart_is_well_formed_and_escapes_text() -> None:
    evil = '<script>alert(1)</script>"'
    made = [
        charts.bar_chart([charts.Bar(evil, 3, "#123456", note=evil), charts.Bar("b", 1, "red;x")], title=evil),
        charts.histogram([0, 1, 2, 3], [charts.Series(evil, [1, 2, 3]), charts.Series("b", [3, 0, 0])], title="h"),
        charts.heatmap([[1, None], [0.5, 2]], [evil, "b"], ["x", "y"], title="m"),
        charts.line_chart(["a", "b", "c"], [charts.Series("s", [1.0, None, 3.0])], title="l"),
        charts.bar_chart([], title="empty"),
    ]
    for chart in made:
        root = parse(chart)
        assert "<script>" not in str(chart)
        assert all(not e.tag.endswith("script") for e in root.iter())
    assert 'fill="#999999"' in str(made[0])  # a colour that is not a hex colour falls back


def test_bar_lengths_are_proportional() -> None:
    root = parse(charts.bar_chart([charts.Bar("a", 2), charts.Bar("b", 1)], title="t", width=400, label_width=100))
    widths = [float(r.get("width")) for r in root.iter(f"{SVG}rect") if r.get("class") != "chart-track"]
    assert widths[0] == 2 * widths[1]


def test_histograms_normalize_groups_of_any_size() -> None:
    big = charts.histogram([0, 1, 2], [charts.Series("a", [100, 100]), charts.Series("b", [1, 1])], title="t")
    polygons = parse(big).findall(f"{SVG}polygon")
    assert polygons[0].get("points") == polygons[1].get("points")
