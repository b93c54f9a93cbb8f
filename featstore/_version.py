"""The featstore version, importable without importing the package root."""

__version__ = "0.1.0"
