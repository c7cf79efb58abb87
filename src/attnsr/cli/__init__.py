"""The ``attnsr`` command line: rendering (progress bars, tables) lives here, not in the library."""
