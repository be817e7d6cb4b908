"""The house figure style: log axes keep readable tick labels, and titles never print nan or "+-"."""

import math

import pytest

from phenomena.report import subplots
from phenomena.report.style import readable_log_ticks


def _labels(axis) -> list[str]:
    axis.axes.figure.canvas.draw()
    return [t.get_text() for t in axis.get_ticklabels(minor=False) if t.get_text()], [
        t.get_text() for t in axis.get_ticklabels(minor=True) if t.get_text()
    ]


def test_a_log_axis_under_a_decade_gets_plain_labels_and_no_minor_ones():
    fig, axes = subplots()
    ax = axes[0][0]
    ax.plot([30, 40, 45], [1, 2, 3])
    ax.set(xscale="log", xlim=(30, 48))
    major, minor = _labels(ax.xaxis)
    assert minor  # matplotlib's default labels the minor ticks here: "3×10¹", "4×10¹" side by side
    readable_log_ticks(ax)
    major, minor = _labels(ax.xaxis)
    # plain numbers (1-2-5 per decade, or evenly spaced where no such tick falls in view), no minor labels
    assert minor == [] and major and all(m.replace(".", "").isdigit() for m in major), major


def test_a_log_axis_over_three_decades_keeps_powers_of_ten():
    fig, axes = subplots()
    ax = axes[0][0]
    ax.plot([1e-4, 1e2], [1, 2])
    ax.set(xscale="log", xlim=(1e-4, 1e2))
    readable_log_ticks(ax)
    major, minor = _labels(ax.xaxis)
    assert minor == [] and major and all("10^{" in m for m in major), major


def test_grokking_title_says_never_generalized_instead_of_nan(cli_json):
    from phenomena.api import load

    res = cli_json("run", "grokking", "-p", "smoke", "-s", "train.weight_decay=0", "-s", "train.steps=30")
    assert res["summary"]["delay"] == "nan"  # never generalized: the delay is unmeasured
    title = load(res["run_id"], res["artifacts"]["record"].rsplit("/", 1)[0]).figure()._suptitle.get_text()
    assert "nan" not in title and "never generalized" in title


@pytest.mark.parametrize("excess, expected", [(5.7, "+5.7 pp"), (-7.4, "-7.4 pp")])
def test_double_descent_title_signs_the_excess_once(excess, expected, cli_json):
    from phenomena.api import load

    res = cli_json("run", "double-descent", "-p", "smoke")
    result = load(res["run_id"], res["artifacts"]["record"].rsplit("/", 1)[0])
    result.summary["peak_excess_pp"] = excess
    title = result.figure()._suptitle.get_text()
    assert expected in title and "+-" not in title
    result.summary["peak_width"] = math.nan
    assert "no interior peak" in result.figure()._suptitle.get_text()
