"""Adapters of the ``Builder`` port: ``local`` (a virtualenv per action) and ``image``."""
