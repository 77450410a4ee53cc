"""``python -m sandbox DIRECTORY PORT [SMTP_PORT]``: the demo's world in a process of its own."""

import sys

from sandbox.server import serve

if __name__ == "__main__":
    serve(sys.argv[1:])
