"""Adapters of the filestore port: S3 (``s3.py``) and a local folder (``local.py``)."""
