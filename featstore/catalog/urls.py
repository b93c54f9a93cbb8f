"""Catalog settings that name a server: recognising them and hiding their passwords."""

from __future__ import annotations

__all__ = ["is_url", "redact"]

_SCHEMES = ("postgresql://", "postgres://")


def is_url(spec: str) -> bool:
    """Whether a catalog setting names a server (a URL) rather than the embedded file."""
    return spec.startswith(_SCHEMES)


def redact(url: str) -> str:
    """A catalog URL without its password, for messages and the store's config file."""
    if not is_url(url) or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    auth, host = rest.rsplit("@", 1)
    user = auth.split(":", 1)[0]
    return f"{scheme}://{user}@{host}" if ":" in auth else url
