"""``python -m simulators`` is ``csms-sim``."""

import sys

from simulators.cli import main

sys.exit(main())
