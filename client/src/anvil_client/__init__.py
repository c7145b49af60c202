"""Anvil LIVE client.

The template environment (:mod:`anvil_client.templates`) and the version
rules (:mod:`anvil_client.versions`) live here and are imported by the FORGE,
so server and client always render and resolve identically.
"""

__version__ = "0.1.0"
