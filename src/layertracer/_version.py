"""The package version (one place: pyproject reads it through hatch)."""

__version__ = "0.1.0"
