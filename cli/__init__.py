"""The ``bytepiece`` command line (installed as the package ``bytepiece_cli``)."""
