"""Pareto fronts of stored runs: non-dominated sorting, hypervolume, plots, exports, one-candidate details.

    from harx.pareto import open_store, load_front, export, panels, plot_png
    with open_store("runs.sqlite") as store:
        front = load_front(store, run_id=3, objectives="acc,flash,latency", target="gap8")
        front.points, front.hypervolume, front.reference
        print(export(front, "markdown"))
        plot_png(panels(store, [3]), "front.png")

See docs/pareto.md.
"""

from harx.objectives import (
    COST_AXES,
    DEFAULT_OBJECTIVES,
    OBJECTIVES,
    Objective,
    nondominated,
    parse_objectives,
)
from harx.pareto.export import FORMATS, export, front_dict, to_csv, to_json, to_markdown
from harx.pareto.front import Front, FrontPoint, TargetCost, load_front, load_fronts, open_store, pick_run
from harx.pareto.plot import DEFAULT_AXES, Panel, figure, html_page, panels, plot_html, plot_png
from harx.pareto.reference import DEFAULT_REFERENCE, Reference, load_reference
from harx.pareto.show import CandidateDetail, detail
from harx.pareto.sorting import hypervolume

__all__ = [
    "COST_AXES",
    "DEFAULT_AXES",
    "DEFAULT_OBJECTIVES",
    "DEFAULT_REFERENCE",
    "FORMATS",
    "OBJECTIVES",
    "CandidateDetail",
    "Front",
    "FrontPoint",
    "Objective",
    "Panel",
    "Reference",
    "TargetCost",
    "detail",
    "export",
    "figure",
    "front_dict",
    "html_page",
    "hypervolume",
    "load_front",
    "load_fronts",
    "load_reference",
    "nondominated",
    "open_store",
    "panels",
    "parse_objectives",
    "pick_run",
    "plot_html",
    "plot_png",
    "to_csv",
    "to_json",
    "to_markdown",
]
