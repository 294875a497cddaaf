"""Read one file with `read_table` and print, as JSON, the process's resident memory after the imports, its
peak after the read, the read's wall time and what was read. Run it in a fresh process per measurement
(PYTHONPATH chooses the checkout): benchmarks/read_memory.py and tests/test_reading_memory.py do.

The peak is the kernel's high-water mark of this process's own memory (VmHWM, Linux): `ru_maxrss` would
do but for one quirk, that Linux carries the parent's resident set at the spawn over into the child's.

    python benchmarks/read_peak.py FILE
"""
import gc
import json
import sys
import time

from forecasting import read_table


def status_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":")) / 1024


if __name__ == "__main__":
    gc.collect()
    before = status_mb("VmRSS")
    started = time.perf_counter()
    panel = read_table(sys.argv[1])
    seconds = time.perf_counter() - started
    print(json.dumps({"after_imports_mb": before, "raw_peak_mb": status_mb("VmHWM"), "seconds": seconds,
                      "rows": len(panel.frame), "series": panel.report.n_series}))
