"""Progress of a long operation (materializing views): bars on a terminal, and in a
notebook a display that survives exporting the notebook.

On a terminal, rich's live bars. In a Jupyter notebook rich's live widget comes out blank
once the notebook is exported or re-opened, so there featstore shows an HTML
``<progress>`` line per task through an IPython display handle, updated at most every
``interval`` seconds and once more at the end (its last state is what the saved notebook
keeps). IPython is not a dependency: without it, or outside a kernel, the notebook
display degrades to plain text lines on stderr, at most one per ``interval``.

>>> import io
>>> out = io.StringIO()
>>> with progress_bars({"spend": 2}, mode="text", stream=out, interval=60) as advance:
...     advance("spend")
...     advance("spend")
>>> [line.split(" [")[0] for line in out.getvalue().splitlines()]  # the first, the last
['materialize spend: 1/2 (50%)', 'materialize spend: 2/2 (100%)']
"""

from __future__ import annotations

import html
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Literal, TextIO, TypeAlias

__all__ = ["Advance", "in_notebook", "progress_bars", "wanted"]

Advance: TypeAlias = Callable[[str], None]
"""Advance a task by one step: ``advance(task)``."""

Mode: TypeAlias = Literal["auto", "terminal", "notebook", "text"]

INTERVAL = 1.0
"""Seconds between two updates of a notebook or text display."""


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (IPython with a kernel attached)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


def wanted(stream: TextIO | None = None) -> bool:
    """The default of ``FeatureStore(progress=None)``: show progress when ``stream``
    (stderr) is a terminal, or in a notebook."""
    target = sys.stderr if stream is None else stream
    try:
        tty = target.isatty()
    except (AttributeError, ValueError):
        tty = False
    return tty or in_notebook()


class _Tasks:
    """Counts per task and when they were last shown."""

    def __init__(self, totals: Mapping[str, int], interval: float) -> None:
        self.totals = {name: max(int(total), 0) for name, total in totals.items()}
        self.done = dict.fromkeys(self.totals, 0)
        self.interval = interval
        self.shown_at = -float("inf")
        self.started = time.monotonic()
        self.changed = False  # steps counted since the display was last shown

    def advance(self, name: str) -> bool:
        """Count one step of ``name``; True when it is time to show the display again."""
        self.done[name] = self.done.get(name, 0) + 1
        self.totals.setdefault(name, 0)
        self.changed = True
        now = time.monotonic()
        if now - self.shown_at >= self.interval:
            self.shown_at = now
            return True
        return False

    def fraction(self, name: str) -> float:
        total = self.totals[name]
        return 1.0 if total == 0 else min(self.done[name] / total, 1.0)

    def line(self, name: str) -> str:
        total = self.totals[name]
        of = f"/{total}" if total else ""
        return f"{name}: {self.done[name]}{of} ({self.fraction(name):.0%})"

    def text(self) -> str:
        elapsed = time.monotonic() - self.started
        return "; ".join(self.line(n) for n in self.totals) + f" [{elapsed:.1f}s]"

    def html(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(name)}</td><td>"
            f'<progress max="{max(self.totals[name], 1)}" '
            f'value="{min(self.done[name], max(self.totals[name], 1))}"></progress></td>'
            f"<td>{html.escape(self.line(name).partition(': ')[2])}</td></tr>"
            for name in self.totals
        )
        return f'<table class="fs-table fs-progress"><tbody>{rows}</tbody></table>'


def _display_handle(first: str) -> Any | None:
    """An IPython display handle showing ``first`` as HTML, or None without IPython."""
    shown = _ipython_display()
    if shown is None:
        return None
    return shown.display(shown.HTML(first), display_id=True)


def _resolve(mode: Mode) -> Mode:
    if mode != "auto":
        return mode
    return "notebook" if in_notebook() else "terminal"


@contextmanager
def progress_bars(
    totals: Mapping[str, int],
    *,
    label: str = "materialize",
    mode: Mode = "auto",
    stream: TextIO | None = None,
    interval: float = INTERVAL,
) -> Iterator[Advance]:
    """Show one progress bar per task (``totals``: task name -> number of steps) while
    the block runs, and yield the function that advances a task by one step.

    ``mode``: ``terminal`` (rich's live bars), ``notebook`` (an HTML ``<progress>`` table
    through an IPython display handle, or text without IPython), ``text`` (a plain line
    on ``stream``, default stderr, at most every ``interval`` seconds), or ``auto``
    (``notebook`` in a Jupyter kernel, else ``terminal``). The last state is always
    shown when the block ends, normally or not.
    """
    chosen = _resolve(mode)
    if chosen == "terminal":
        from rich.progress import Progress

        with Progress(transient=False) as bar:
            tasks = {n: bar.add_task(f"{label} {n}", total=t) for n, t in totals.items()}

            def advance_bar(name: str) -> None:
                if name not in tasks:
                    tasks[name] = bar.add_task(f"{label} {name}", total=None)
                bar.advance(tasks[name])

            yield advance_bar
        return
    state = _Tasks(totals, interval)
    handle = _display_handle(state.html()) if chosen == "notebook" else None
    out = sys.stderr if stream is None else stream

    def show() -> None:
        state.changed = False
        if handle is not None:
            handle.update(_html_object(state.html()))
        else:
            out.write(f"{label} {state.text()}\n")
            out.flush()

    def advance(name: str) -> None:
        if state.advance(name):
            show()

    try:
        yield advance
    finally:
        if state.changed or (handle is None and state.shown_at < 0):
            show()


def _ipython_display() -> Any | None:
    """``IPython.display``, or None without IPython (typed as Any, so type checking does
    not depend on whether, or which, IPython is installed)."""
    try:
        import IPython.display as shown  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    module: Any = shown
    return module


def _html_object(text: str) -> Any:
    shown = _ipython_display()
    if shown is None:
        raise ImportError("IPython is not installed")
    return shown.HTML(text)
