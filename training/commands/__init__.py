"""`dfd` subcommands that need the train extra. torch is imported inside run(), never at import."""
