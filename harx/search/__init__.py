"""NSGA-II search over genomes and per-layer bit-widths, with a resumable SQLite-backed cache.

    from harx.search import load_recipe, run
    result = run(load_recipe("recipes/quick.yaml"), Store("runs.sqlite"))

``recipe`` (settings), ``encoding`` (genome vectors), ``problem`` (what NSGA-II optimises), ``jobs`` (one
evaluation on an executor), ``executors`` (local, dask), ``refine`` (what to retrain), ``study`` (the loop),
``result`` (what it reports).
"""

from harx.search.recipe import Recipe, load_recipe, parse_recipe
from harx.search.result import Event, SearchResult
from harx.search.study import resume, resume_executor, run

__all__ = [
    "Event",
    "Recipe",
    "SearchResult",
    "load_recipe",
    "parse_recipe",
    "resume",
    "resume_executor",
    "run",
]
