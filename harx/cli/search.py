"""`harx search`: NSGA-II over architectures and per-layer bit-widths; every candidate cached in the store."""

from __future__ import annotations

from pathlib import Path

import typer

from harx.cli.common import StopOnCtrlC, err, exit_interrupted, out, print_json, print_table, print_warnings
from harx.cli.progress import search_progress
from harx.cli.tables import front_summary, front_table
from harx.errors import ConfigError, StoreError
from harx.paths import default_store_path


def command(
    recipe: Path = typer.Option(None, "--recipe", "-r", help="YAML recipe (see recipes/)."),
    dataset: str = typer.Option(None, "--dataset", "-d", help="Search this dataset with the default recipe."),
    resume: int = typer.Option(None, "--resume", help="Resume an interrupted run by its id."),
    store_path: Path = typer.Option(
        None, "--store", help="Candidate store (default: $HARX_HOME/store.sqlite)."
    ),
    generations: int = typer.Option(None, "--generations", help="Override search.generations."),
    population: int = typer.Option(None, "--population", help="Override search.population and offspring."),
    executor: str = typer.Option(None, "--executor", help="local or dask (overrides the recipe)."),
    scheduler: str = typer.Option(None, "--scheduler", help="dask scheduler address, e.g. tcp://host:8786."),
    no_refine: bool = typer.Option(False, "--no-refine", help="Stop after the proxy search (no retraining)."),
    threads: int = typer.Option(2, "--threads", help="torch threads for the local executor."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or auto (cuda when torch sees a GPU)."),
    as_json: bool = typer.Option(False, "--json", help="Print the run id and the final front as JSON."),
    print_recipe: bool = typer.Option(
        False, "--print-recipe", help="Print the recipe (with the overrides) as YAML and exit; nothing runs."
    ),
) -> None:
    """Search for Pareto-optimal quantized CNNs: accuracy against memory, latency and energy.

    Candidates are scored on subject-grouped validation folds of the training subjects (never the test
    subjects); the Pareto set is then retrained at full budget with several seeds and reported on the test
    subjects. A candidate already in the store is never retrained. Ctrl-C stops cleanly; resume with
    --resume RUN_ID. Exit codes: 0 done, 130 interrupted, 3 data, 4 recipe, 5 store errors.
    """
    from harx.search import load_recipe, resume_executor
    from harx.search import resume as resume_search
    from harx.search import run as run_search
    from harx.search.recipe import default_recipe, recipe_yaml
    from harx.store import Store
    from harx.train import Execution

    if print_recipe:
        if resume is not None:
            raise ConfigError("--print-recipe prints a recipe of --recipe or --dataset, not of --resume")
        rec = load_recipe(recipe) if recipe is not None else default_recipe(dataset) if dataset else None
        if rec is None:
            raise ConfigError("--print-recipe needs --recipe FILE or --dataset NAME")
        rec = rec.with_overrides(
            generations=generations, population=population, executor=executor, scheduler=scheduler
        )
        typer.echo(
            f"# {rec.source}; save and edit, then: harx search --recipe FILE\n" + recipe_yaml(rec), nl=False
        )
        return
    if resume is not None:
        if recipe or dataset:
            raise ConfigError(
                "--resume replays the run's stored recipe; do not also give --recipe or --dataset"
            )
        rec = None
    elif recipe is not None:
        rec = load_recipe(recipe)
    elif dataset is not None:
        rec = default_recipe(dataset)
    else:
        raise ConfigError("give --recipe FILE, --dataset NAME or --resume RUN_ID")
    if rec is not None:
        rec = rec.with_overrides(
            generations=generations, population=population, executor=executor, scheduler=scheduler
        )
    store = Store(store_path or default_store_path(), create=resume is None)  # a resume needs its store
    execution = Execution(threads=threads, device=device)
    with StopOnCtrlC() as stop, search_progress(not as_json) as show:

        def on_event(e) -> None:
            stop.check()
            if e.kind == "warning":
                print_warnings([e.detail])
            elif show is not None:
                show(e)

        try:
            if rec is None:
                result = resume_search(
                    store,
                    resume,
                    executor=resume_executor(store, resume, executor, scheduler),
                    execution=execution,
                    refine=not no_refine,
                    on_event=on_event,
                )
            else:
                result = run_search(rec, store, execution=execution, refine=not no_refine, on_event=on_event)
        except KeyboardInterrupt:
            runs = store.runs()
            rid = resume if resume is not None else (runs[-1].id if runs else "?")
            err.print(
                f"[yellow]interrupted[/]; completed candidates are stored. Resume with: harx search --resume {rid}"
                + (f" --store {store_path}" if store_path else ""),
                soft_wrap=True,
                highlight=False,
            )
            store.close()
            exit_interrupted()
    if as_json:
        print_json(result.to_json())
    else:
        render(result, store)


def render(r, store) -> None:
    """The run's front as `harx pareto list` prints it, and this call's counts."""
    from harx.pareto import load_front

    try:
        front = load_front(store, r.run_id)
    except StoreError as exc:
        out.print(f"no front: {exc}", highlight=False, soft_wrap=True)
    else:
        print_table(front_table(front, include_dominated=False))
        out.print(front_summary(front), highlight=False, soft_wrap=True)
    s = r.stats
    out.print(
        f"{s.n_candidates} candidates ({s.cache_hits} cache hits, {s.n_infeasible} infeasible, "
        f"{s.n_failed} failed); this call trained {r.trained_now}, served {r.served_now} from the store and "
        f"reused {r.float_cache_hits} float stages in {r.wall_seconds / 60:.1f} min; store {r.store_path}",
        highlight=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    app.command("search")(command)
