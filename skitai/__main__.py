"""``python -m skitai ...``: the ``skitai`` command."""

from __future__ import annotations

from skitai.cli import main

if __name__ == "__main__":
    main()
