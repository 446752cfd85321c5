"""The ``geoharmony`` command line: thin commands over the library API."""
