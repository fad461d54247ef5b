"""``csms serve`` under a chosen garbage-collector policy, for ``gateway_load.py --server-command``.

An experiment, not a deployment tool: it sets ``gc.set_threshold`` (and optionally
``gc.freeze()``s everything imported before serving), logs every collection that takes over
20 ms to stderr (the server log), then runs ``csms serve`` unchanged. Example::

    .venv/bin/python benchmarks/gateway_load.py --chargers 19900 --interval 4 \\
        --server-command ".venv/bin/python benchmarks/gc_policy_serve.py --threshold 20000 10 10"
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from typing import Any

SLOW_COLLECTION = 0.020
_started = [0.0]


def _log_slow(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
        return
    took = time.perf_counter() - _started[0]
    if took > SLOW_COLLECTION:
        print(f"GC gen{info['generation']} took {took * 1e3:.0f} ms", file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threshold", type=int, nargs=3, metavar=("GEN0", "GEN1", "GEN2"))
    parser.add_argument("--freeze", action="store_true", help="gc.freeze() after the imports")
    args = parser.parse_args()
    if args.threshold:
        gc.set_threshold(*args.threshold)
    gc.callbacks.append(_log_slow)
    import csms.app
    import csms.cli
    import csms.server  # Imported before the freeze on purpose.

    if args.freeze:
        gc.collect()
        gc.freeze()
    print(
        f"GC policy: threshold {gc.get_threshold()}, frozen {gc.get_freeze_count()} objects",
        file=sys.stderr,
        flush=True,
    )
    return csms.cli.main(["serve"])


if __name__ == "__main__":
    sys.exit(main())
