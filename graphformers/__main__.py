"""``python -m graphformers`` runs the same command line as the ``graphformers`` script."""

import sys

from graphformers.cli import main

if __name__ == "__main__":
    sys.exit(main())
