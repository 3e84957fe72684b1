"""The reliability diagram and the delta chart: marks where the numbers say, text escaped, empty input drawn."""
from __future__ import annotations

from bs4 import BeautifulSoup

from app.core.charts import DeltaRow, ReliabilityBin, delta_chart, reliability_diagram


def svg(markup: str) -> BeautifulSoup:
    return BeautifulSoup(str(markup), "html.parser")


def test_the_reliability_diagram_draws_a_bar_per_filled_bin_up_to_its_accuracy() -> None:
    bins = [ReliabilityBin(0.0, 0.5, None, None, 0), ReliabilityBin(0.5, 1.0, 0.8, 0.5, 10)]
    drawn = svg(reliability_diagram(bins, title="<b>calibration</b>", width=240, height=240))
    bars = drawn.select("rect.reliability-bar")
    assert len(bars) == 1  # the empty bin draws nothing
    # plot: left 40, top 12, 188 x 188; the bar spans x 0.5..1 and reaches accuracy 0.5
    assert float(bars[0]["x"]) == 134.0 and abs(float(bars[0]["height"]) - 94.0) < 0.1
    dot = drawn.select_one("circle")
    assert (float(dot["cx"]), float(dot["cy"])) == (190.4, 49.6)  # mean confidence 0.8 on the diagonal
    assert drawn.select_one("title").get_text() == "<b>calibration</b>" and "<b>" not in str(drawn).split("</title>")[0]
    assert "no data" in str(svg(reliability_diagram([], title="empty")))


def test_the_delta_chart_draws_gains_right_losses_left_and_the_interval_as_a_whisker() -> None:
    rows = [DeltaRow("pit", 0.2, 0.1, 0.3), DeltaRow("dent", -0.1, -0.2, 0.05, note="n=12"),
            DeltaRow("<script>", None, None, None)]
    drawn = svg(delta_chart(rows, title="b - a", width=400, label_width=100, span=0.4))
    zero = 100 + (400 - 100 - 130) / 2  # 185
    bars = drawn.select("rect")
    assert len(bars) == 2
    assert float(bars[0]["x"]) == zero and bars[0]["fill"] == "#009E73"  # a gain starts at zero, green
    assert float(bars[1]["x"]) + float(bars[1]["width"]) == zero and bars[1]["fill"] == "#D55E00"
    whiskers = drawn.select("line.delta-interval")
    assert len(whiskers) == 2 and float(whiskers[1]["x2"]) > zero  # dent's interval crosses zero
    texts = [t.get_text() for t in drawn.select("text")]
    assert "+0.200 [+0.100, +0.300]" in texts and "<script>" in texts and "–" in texts
    assert "<script>" not in str(delta_chart(rows, title="x"))
