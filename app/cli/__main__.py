"""``python -m app.cli`` runs the ``hyperquest`` command."""

import sys

from app.cli import main

if __name__ == "__main__":  # the embedded runner's training process imports this module again
    sys.exit(main())
