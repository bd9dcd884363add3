"""The `amfast` command line: one module per subcommand."""
