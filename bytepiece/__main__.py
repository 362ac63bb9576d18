"""``python -m bytepiece``: the same as the ``bytepiece`` command."""

from bytepiece_cli.main import main

if __name__ == "__main__":
    main()
