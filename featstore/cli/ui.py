"""``featstore ui`` (the local web app) and ``featstore lineage draw`` (a picture or a
self-contained explorer page of one node's neighbourhood). :func:`register` adds them to
the ``featstore`` group; both open the store read-only."""

from __future__ import annotations

import json
import threading
import webbrowser
from pathlib import Path
from typing import Any

import click

from featstore.cli.monitor import store_path
from featstore.config import CONFIG_FILE
from featstore.errors import ConfigError

__all__ = ["register"]


def _store_path(ctx: click.Context, given: Path | None) -> Path:
    """``--store`` of the command, else the root group's (or the project's)."""
    return given if given is not None else store_path(ctx)


def _read_only(path: Path) -> Any:
    import featstore as fs

    target = path.absolute()
    if not (target / CONFIG_FILE).is_file():
        raise ConfigError(
            f"no feature store at {str(target)!r}; point --store (or FEATSTORE_STORE) at an "
            f"existing store"
        )
    return fs.FeatureStore(target, read_only=True, progress=False)


store_option = click.option(
    "--store",
    "store",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The store (default: the featstore group's --store).",
)


@click.command("ui")
@store_option
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port on 127.0.0.1 (0: any free port).",
)
@click.option(
    "--open/--no-open", "open_browser", default=False, help="Open the app in the default browser."
)
@click.pass_context
def ui_command(ctx: click.Context, store: Path | None, port: int, open_browser: bool) -> None:
    """Serve the read-only web app on 127.0.0.1: definitions, runs, training sets, models,
    predictions and the lineage explorer. Stop it with Ctrl-C."""
    from featstore.ui.server import serve

    server = serve(_store_path(ctx, store), port=port)
    click.echo(f"featstore ui: {server.url} (read-only; Ctrl-C to stop)", err=True)
    if open_browser:
        threading.Timer(0.3, webbrowser.open, args=(server.url,)).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@click.command("draw")
@click.argument("node")
@click.option(
    "--up", type=click.IntRange(0, 6), default=2, show_default=True, help="Hops of ancestors."
)
@click.option(
    "--down", type=click.IntRange(0, 6), default=2, show_default=True, help="Hops of descendants."
)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="FILE.html (the explorer, self-contained, opens offline), FILE.svg or "
    "FILE.png (PNG needs the draw extra and Graphviz).",
)
@store_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@click.pass_context
def draw_command(
    ctx: click.Context,
    node: str,
    up: int,
    down: int,
    out: Path,
    store: Path | None,
    as_json: bool,
) -> None:
    """Draw NODE's lineage neighbourhood: layered, sources left to predictions right.

    NODE may omit its version (view:NAME, model:NAME, training_set:NAME)."""
    from featstore.cli.actions import resolve_node
    from featstore.ui.draw import draw
    from featstore.ui.graph import GraphSource

    with _read_only(_store_path(ctx, store)) as opened:
        info = draw(GraphSource(opened), resolve_node(opened, node), out, up=up, down=down)
    if as_json:
        click.echo(json.dumps(info, indent=2))
    else:
        click.echo(
            f"drew {info['nodes']} nodes and {info['edges']} edges around {info['node']} "
            f"to {info['path']}"
        )


def register(group: click.Group) -> None:
    """Add ``ui`` to ``group`` (the ``featstore`` group) and ``draw`` to its ``lineage``
    group."""
    group.add_command(ui_command)
    lineage = group.commands.get("lineage")
    if isinstance(lineage, click.Group):
        lineage.add_command(draw_command)
