"""The stand-in IntelGraph service: API server, ingest worker and workspace tools.

One source tree is built into release tarballs of several versions; the ``VERSION``
file at the release root decides at run time which behaviour is switched on.
"""
