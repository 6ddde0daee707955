"""The HTTP API (FastAPI), served under /repository."""
