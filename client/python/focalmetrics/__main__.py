"""`python -m focalmetrics`: the command line (see focalmetrics.cli)."""

import sys

from focalmetrics.cli import main

sys.exit(main())
