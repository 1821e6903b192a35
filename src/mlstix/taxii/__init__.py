"""TAXII 2.1 server and client of mlstix (OASIS TAXII Version 2.1).

- :mod:`mlstix.taxii.app`: the FastAPI app (``create_app``), served by ``mlstix serve``;
- :mod:`mlstix.taxii.store`: storage through SQLAlchemy (SQLite by default, PostgreSQL);
- :mod:`mlstix.taxii.auth`: users, salted secret hashes, per-collection permissions;
- :mod:`mlstix.taxii.publish`: sending STIX bundles to any TAXII 2.1 server.

Nothing here is imported by ``import mlstix``; FastAPI and SQLAlchemy load only when used.
"""
