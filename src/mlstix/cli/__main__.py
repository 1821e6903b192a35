"""``python -m mlstix.cli``: the ``mlstix`` command without the console script."""

from mlstix.cli.main import main

main()
