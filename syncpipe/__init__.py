"""syncpipe: process wiring, configuration, embedded services and the command line."""
