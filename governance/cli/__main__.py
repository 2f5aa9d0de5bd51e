"""`python -m governance.cli`: the same command as the `governance` console script."""

from governance.cli import main

main()
