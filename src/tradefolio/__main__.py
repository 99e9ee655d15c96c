"""`python -m tradefolio` runs the CLI."""

from tradefolio.cli.app import main

if __name__ == "__main__":
    main()
