"""A PNG chart of an hourly match: consumption against matched and retired generation.

matplotlib is imported inside `plot_matching` only, so importing greenchain (or any
command that draws nothing) stays cheap. Drawing uses matplotlib's object API on the
Agg canvas: no pyplot global state, no display needed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from greenchain.reports.matching import HOUR_S, HourMatch, MatchingResult

if TYPE_CHECKING:  # for the annotation only: matplotlib is imported when drawing
    from matplotlib.axes import Axes

FIGURE_SIZE_IN = (12.0, 4.5)
DPI = 100
KWH = 1000


def plot_matching(result: MatchingResult, path: str | os.PathLike[str], title: str) -> None:
    """Draw consumption vs matched generation per UTC hour and save it as a PNG.

    Parameters
    ----------
    result:
        The hourly match (`greenchain.reports.matching.compute_matching`).
    path:
        The PNG file to write.
    title:
        The chart's title (e.g. the beneficiary and the CFE score).

    Raises
    ------
    OSError
        If the file cannot be written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import date2num
    from matplotlib.figure import Figure

    figure = Figure(figsize=FIGURE_SIZE_IN, dpi=DPI)
    FigureCanvasAgg(figure)  # attaches the Agg canvas: savefig renders with it
    axes = figure.add_subplot()
    axes.set_title(title)
    axes.set_xlabel("hour (UTC)")
    axes.set_ylabel("energy per hour (kWh)")
    if result.hours:
        _draw_hours(axes, result, date2num)
    else:
        axes.text(0.5, 0.5, "no hours to show", ha="center", va="center",
                  transform=axes.transAxes)
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(os.fspath(path), format="png")


def _draw_hours(axes: Axes, result: MatchingResult,
                date2num: Callable[[Sequence[datetime]], Any]) -> None:
    # One step per hour from the first to the last, zero where the match has no hour,
    # so a gap never stretches its neighbour's value.
    by_start = {h.hour_start: h for h in result.hours}
    first, last = result.hours[0].hour_start, result.hours[-1].hour_start
    starts = range(first, last + HOUR_S, HOUR_S)
    edges = date2num([datetime.fromtimestamp(t, UTC) for t in (*starts, last + HOUR_S)])

    def series(value: Callable[[HourMatch], int]) -> list[float]:
        return [value(by_start[t]) / KWH if t in by_start else 0.0 for t in starts]

    axes.stairs(series(lambda h: h.matched_wh), edges, fill=True, color="tab:green",
                alpha=0.6, label="matched generation")
    axes.stairs(series(lambda h: h.generation_wh), edges, color="tab:olive", linewidth=0.8,
                label="retired generation (hour of production)")
    axes.stairs(series(lambda h: h.consumption_wh), edges, color="tab:blue", linewidth=1.2,
                label="consumption")
    axes.xaxis_date(tz=UTC)
    axes.set_ylim(bottom=0)
    axes.legend(loc="upper right")
