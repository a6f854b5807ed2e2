"""``python -m layertracer``: the same as the ``layertracer`` command."""

from layertracer.cli import main

if __name__ == "__main__":
    main()
