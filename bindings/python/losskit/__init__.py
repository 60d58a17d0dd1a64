"""losskit: classification losses and their gradients, computed by liblosskit.

    >>> import numpy as np, losskit
    >>> logits = np.array([[2.0, 0.5, -1.0]]); target = np.array([0])
    >>> loss, grad = losskit.loss_and_grad("cross_entropy", logits, target, label_smoothing=0.1)

User losses and mixes:

    >>> losskit.register("my_loss", lambda row, y: (loss_of(row, y), grad_of(row, y)))
    >>> m = losskit.mix(["cross_entropy", "squentropy"],
    ...                 weights=[{"schedule": "linear", "start": 1, "end": 0}, 0.5])
    >>> loss, grad = m.loss_and_grad(logits, target, progress=0.3)

A loss made once and called on every batch (parameters checked once), and PyTorch:

    >>> ce = losskit.Loss("cross_entropy", label_smoothing=0.1)
    >>> loss, grad = ce(logits, target)
    >>> import losskit.torch                      # imports torch; losskit alone never does
    >>> criterion = losskit.torch.LossModule("squentropy")

The library is found through $LOSSKIT_LIBRARY, then a copy inside this
package, then the repository's .build/release (see losskit._library).
"""

from ._library import DType, LibraryError, Reduction, Status
from .api import describe, empty_like, get_num_threads, loss_and_grad, losses, set_num_threads, simd_level, version
from .errors import LossKitError
from .loss import Loss
from .mix import Mix, mix
from .registry import load_plugin, register, unregister

__all__ = [
    "loss_and_grad",
    "Loss",
    "losses",
    "describe",
    "empty_like",
    "version",
    "simd_level",
    "set_num_threads",
    "get_num_threads",
    "register",
    "unregister",
    "load_plugin",
    "mix",
    "Mix",
    "LossKitError",
    "LibraryError",
    "Status",
    "DType",
    "Reduction",
]


def __getattr__(name: str) -> object:
    # `losskit.torch` on first use, so that `import losskit` never imports torch.
    if name == "torch":
        import importlib

        return importlib.import_module(".torch", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
