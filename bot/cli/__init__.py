"""The command line: the parser, the console entry point, one module per command family."""
