"""The one ``medtrace`` command: a subcommand group per concern, one console, one ``fail()``."""
