"""The `harx` command: registers each subcommand module and turns HarxError into a one-line error."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from harx import __version__
from harx.errors import HarxError

app = typer.Typer(
    name="harx",
    help="Find, train, quantize and deploy tiny 1-D CNNs for human activity recognition on microcontrollers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    epilog="Exit codes: 0 success, 1 error, 2 usage, 3 data, 4 config/genome/recipe, 5 store, 6 toolchain, "
    "130 interrupted. Docs: docs/ in the repository; every command has --help and --json.",
)
err_console = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"harx {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Find, train, quantize and deploy tiny 1-D CNNs for human activity recognition on microcontrollers."""


# Each name is a module in harx/cli/ with a `register(app)` function; a command is listed once it works.
COMMANDS: tuple[str, ...] = ("fetch", "search", "quantize", "cost", "deploy", "pareto", "adapt", "export")


_registered = False


def _register() -> None:
    global _registered
    if _registered:  # main() may be called many times in one process (tests, notebooks)
        return
    import importlib

    for name in COMMANDS:
        importlib.import_module(f"harx.cli.{name}").register(app)
    _registered = True


def main(argv: list[str] | None = None) -> None:
    from typer.exceptions import TyperException

    _register()
    try:
        # without standalone mode click returns a command's typer.Exit(code) instead of exiting with it
        rc = app(args=argv, standalone_mode=False)
    except HarxError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        from harx.cli.common import exit_interrupted

        err_console.print("[yellow]interrupted[/]")
        exit_interrupted()
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except TyperException as exc:  # usage errors: unknown command or option, bad value
        exc.show()
        sys.exit(exc.exit_code)
    if isinstance(rc, int) and rc:  # `harx pareto compare` on a regression, `harx deploy` not bit-exact
        sys.exit(rc)
