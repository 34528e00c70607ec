"""Keep pandas out of a command that does not use it (``commtrail stats``, ``commtrail bundle``).

pyarrow imports pandas by itself, to check whether an object is a pandas one, the first time it
builds an array in a process where pandas is installed: 0.2-0.3 s, more than the rest of ``stats``
takes on a small case. :func:`arrow_without_pandas` lets pyarrow make that check while ``import
pandas`` fails, so it takes pandas as absent; anything that asks pyarrow for pandas itself
(``to_pandas``) still gets it, as pyarrow imports it again then.
"""

from __future__ import annotations

import sys


class _RefusePandas:
    """An import finder that makes ``import pandas`` fail."""

    @staticmethod
    def find_spec(name: str, path=None, target=None):
        if name == "pandas":
            raise ModuleNotFoundError("pandas is not used here", name=name)
        return None


def arrow_without_pandas() -> None:
    """In a fresh process (neither pyarrow nor pandas imported yet): let pyarrow take pandas as
    absent. Elsewhere (tests, a process that used Arrow already) it does nothing."""
    if "pandas" in sys.modules or "pyarrow" in sys.modules:
        return
    sys.meta_path.insert(0, _RefusePandas)
    try:
        import pyarrow as pa
        pa.array([], pa.int8())  # pyarrow looks for pandas once, on its first array
        import pyarrow.dataset  # noqa: F401  (and once more when its dataset module is loaded)
    finally:
        sys.meta_path.remove(_RefusePandas)
