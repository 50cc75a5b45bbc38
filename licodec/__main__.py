"""``python -m licodec``: the command-line interface (see licodec.cli)."""
import sys

from .cli import main

sys.exit(main())
