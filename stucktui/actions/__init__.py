"""Actions on a target process: signals by name through a pidfd, closing an fd inside it, and the
audit log every action and refusal is written to. No textual, no rich: the UI and the CLI call
these from worker threads.

Importing this package loads nothing: each caller imports the module it uses (the command line
lists the subcommands without loading what acts)."""
