"""Command line: a thin typer app that parses, calls the layers below and prints."""
