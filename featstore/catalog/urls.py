"""Catalog settings that name a server: recognising them and hiding their passwords."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit, urlunsplit

__all__ = ["is_url", "redact"]

_SCHEMES = ("postgresql://", "postgres://")
_SECRET_PARAMS = {"password", "sslpassword"}


def is_url(spec: str) -> bool:
    """Whether a catalog setting names a server (a URL) rather than the embedded file."""
    return spec.startswith(_SCHEMES)


def redact(url: str) -> str:
    """A catalog URL without its password (in the user part or as a ``password=`` query
    parameter), for messages and the store's config file.

    >>> redact("postgresql://ana:s3cret@db.example:5432/features?password=x&sslmode=require")
    'postgresql://ana@db.example:5432/features?sslmode=require'
    """
    if not is_url(url):
        return url
    parts = urlsplit(url)
    netloc = parts.netloc
    auth, at, host = netloc.rpartition("@")  # the host follows the last '@' of the netloc
    if at:
        netloc = f"{auth.partition(':')[0]}@{host}"
    # other parameters stay as written (libpq decodes %XX, never '+')
    kept = [
        p
        for p in parts.query.split("&")
        if p and unquote(p.partition("=")[0]) not in _SECRET_PARAMS
    ]
    query = "&".join(kept)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
