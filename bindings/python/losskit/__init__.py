"""losskit: classification losses and their gradients, computed by liblosskit.

    >>> import numpy as np, losskit
    >>> logits = np.array([[2.0, 0.5, -1.0]]); target = np.array([0])
    >>> loss, grad = losskit.loss_and_grad("cross_entropy", logits, target, label_smoothing=0.1)

The library is found through $LOSSKIT_LIBRARY, then a copy inside this
package, then the repository's .build/release (see losskit._library).
"""

from ._library import DType, LibraryError, Reduction, Status
from .api import get_num_threads, loss_and_grad, losses, set_num_threads, version
from .errors import LossKitError

__all__ = [
    "loss_and_grad",
    "losses",
    "version",
    "set_num_threads",
    "get_num_threads",
    "LossKitError",
    "LibraryError",
    "Status",
    "DType",
    "Reduction",
]
