"""The local web UI (``featstore ui``): a read-only web app over one store, served on
the loopback interface by :func:`featstore.ui.server.serve`; see docs/ui.md."""

from __future__ import annotations

__all__: list[str] = []
