import sys

from qservice.cli import main

sys.exit(main())
