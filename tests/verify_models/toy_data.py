"""Small regression data shared by the verify fixtures, imported as a sibling module the way scripts do."""
import numpy as np

_rng = np.random.default_rng(0)
x = _rng.random((16, 4), dtype=np.float32)
y = _rng.random((16, 1), dtype=np.float32)
