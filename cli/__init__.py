"""The ``contraband`` command line."""
