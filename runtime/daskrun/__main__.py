import sys

from daskrun.cli import main

sys.exit(main())
