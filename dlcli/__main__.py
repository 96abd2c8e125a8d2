import sys

from dlcli.cli import main

sys.exit(main())
