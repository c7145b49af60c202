"""Peering: FORGE ↔ FORGE (docs/peering.md).

* :mod:`.known_forges` — the operator's list of other FORGEs (``ANVIL_KNOWN_FORGES``);
* :mod:`.remote` — the HTTP client that browses them (timeouts, no retries, typed errors);
* :mod:`.archive` — the portable project archive (build, validate, checksum; docs/export-format.md);
* :mod:`.services` / :mod:`.queries` — import, connect/disconnect remote projects; export, links.
"""
