"""Chart builders: a single instant on a time axis (the first window of a monitor, the first
minute of an endpoint's traffic) is shown over a readable span, not Plotly's millisecond."""

from datetime import UTC, datetime, timedelta

from apps.core import charts

AT = datetime(2026, 12, 4, 16, 17, 39, tzinfo=UTC)


def test_one_instant_gets_an_hour_either_side_and_the_threshold_spans_it():
    figure = charts.threshold_chart(x=[AT], y=[0.04], threshold=0.05, title="x", y_title="p-value")
    span = [str(AT - timedelta(hours=1)), str(AT + timedelta(hours=1))]
    assert figure["layout"]["xaxis"] == {"type": "date", "range": span}
    line = figure["data"][1]
    assert (line["x"], line["y"]) == (span, [0.05, 0.05])

    shares = charts.time_chart(series={"m": ([AT], [1.0])}, title="t", y_title="share")
    assert shares["layout"]["xaxis"]["range"] == span


def test_several_instants_keep_plotlys_fit_unless_a_window_is_given():
    later = AT + timedelta(hours=3)
    figure = charts.threshold_chart(x=[AT, later], y=[0.1, 0.2], threshold=0.05, title="x", y_title="p")
    assert "range" not in figure["layout"]["xaxis"] and figure["data"][1]["x"] == [str(AT), str(later)]
    window = (AT - timedelta(hours=1), later)
    fixed = charts.time_chart(series={"a": ([AT, later], [1, 2])}, title="t", y_title="n", x_range=window)
    assert fixed["layout"]["xaxis"]["range"] == [str(t) for t in window]
