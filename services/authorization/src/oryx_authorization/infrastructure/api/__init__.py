"""The HTTP API (FastAPI), served under /authorization."""
