"""``python -m simulator`` is ``camsentry-sim``."""

import sys

from simulator.cli import main

sys.exit(main())
