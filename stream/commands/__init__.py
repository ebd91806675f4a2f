"""One module per `dfd` subcommand: HELP, add_arguments(parser) and run(args) -> exit code."""
