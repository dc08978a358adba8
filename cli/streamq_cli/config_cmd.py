"""`streamq config check`: the effective configuration and where each value came from."""

from __future__ import annotations

import typer

from ._options import (
    ConfigOption,
    DebugOption,
    JsonOption,
    UrlOption,
    load,
    print_json,
    print_table,
)
from ._run import run_command

app = typer.Typer(help="Check the configuration.", no_args_is_help=True, rich_markup_mode=None)


@app.command("check")
def check(
    config: ConfigOption = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """Validate the config file and environment; print every value with its source.

    Secrets are masked. Exits 2 when the configuration is invalid.
    """

    def body() -> None:
        cfg = load(config, url=(url, "--url"))
        entries = cfg.entries()
        if as_json:
            print_json(
                {
                    "file": str(cfg.path) if cfg.path else None,
                    "settings": {e.key: {"value": e.value, "source": e.source} for e in entries},
                }
            )
            return
        typer.echo(f"config file: {cfg.path or 'none (defaults and environment)'}")
        print_table(
            ["setting", "value", "source"], [[e.key, e.value, e.source] for e in entries], ""
        )

    run_command(body, debug)
