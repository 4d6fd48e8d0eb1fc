"""The exit codes every recovery command shares, and their help text."""

EXIT_OK = 0
EXIT_ATTENTION = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_UNAVAILABLE = 4

HELP = """\
Exit codes (the same for every recovery command):
  0  done, nothing left that needs attention
  1  done, but something needs a look: a replayed event was dead-lettered or failed, or an upload
     was cut by the window; a retried dead letter still fails; archived calls no longer validate
  2  bad arguments or configuration: a setting missing, a window that cannot be read, the
     database not migrated to this version (run `syncpipe migrate`)
  3  not found: no such dead letter, no events of that tenant
  4  Postgres or Kafka unreachable or failing: nothing half-done, safe to run again later
"""
