"""``python -m hullscan``."""

import sys

from hullscan.cli import main

sys.exit(main())
