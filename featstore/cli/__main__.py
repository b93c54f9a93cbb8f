"""``python -m featstore.cli``."""

from featstore.cli.commands import main

main()
