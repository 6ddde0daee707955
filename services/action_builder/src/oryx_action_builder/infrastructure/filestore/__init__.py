"""Adapters of the ``SourceStore`` port: S3 (MinIO or any S3 server) and a local folder."""
