"""The ``layertracer`` command line: a thin shell over the API (:mod:`.app`)."""

from layertracer.cli.app import app, main

__all__ = ["app", "main"]
