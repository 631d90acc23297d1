"""`python -m server`: the same as `lmust-server`."""

from server.cli import main

raise SystemExit(main())
