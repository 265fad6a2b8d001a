"""``python -m utcp_http_stream.cli``: the same as the ``utcp-http-stream`` script."""

import sys

from utcp_http_stream.cli import main

sys.exit(main())
