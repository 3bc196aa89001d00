import sys

from gitxds.cli import main

sys.exit(main())
