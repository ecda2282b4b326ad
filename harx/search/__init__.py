"""NSGA-II search over genomes and per-layer bit-widths, with a resumable SQLite-backed cache."""

from harx.search.driver import Event, SearchResult, resume, run
from harx.search.recipe import Recipe, load_recipe, parse_recipe

__all__ = ["Event", "Recipe", "SearchResult", "load_recipe", "parse_recipe", "resume", "run"]
