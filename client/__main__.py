"""`python -m client`: the same as the `lmust-client` command."""

import sys

from client.cli import main

sys.exit(main())
