"""NumPy's real ndarray class, captured at import.

While a trace runs, ``numpy.ndarray`` is a stand-in (see tracenp.patching); tracenp's
own code always uses this constant for identity and isinstance checks.
"""
import numpy as np

NDARRAY = np.ndarray
