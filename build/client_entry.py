"""Entry point frozen into the lmust-client executable (PyInstaller wants a script)."""

import sys

from client.cli import main

if __name__ == "__main__":
    sys.exit(main())
