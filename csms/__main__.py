"""``python -m csms`` is the ``csms`` command."""

import sys

from csms.cli import main

sys.exit(main())
