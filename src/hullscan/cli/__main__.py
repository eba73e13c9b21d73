"""``python -m hullscan.cli``."""

import sys

from hullscan.cli import main

sys.exit(main())
