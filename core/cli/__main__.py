import sys

from core.cli import main

if __name__ == "__main__":  # `python -m core.cli`
    sys.exit(main())
