"""Console scripts of the installed package (see [project.scripts] in pyproject.toml)."""

from __future__ import annotations


def demo() -> int:
    """``losskit-demo [options]``: ``python3 -m losskit.demo``, exiting 0 on success.

    ``losskit.demo.main`` returns its results object, which a console script would hand to
    ``sys.exit`` (printing it and exiting 1); this wrapper returns 0 instead.
    """
    from .demo import main

    main()
    return 0
