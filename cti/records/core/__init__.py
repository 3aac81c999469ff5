"""The pure part of the records: the typed event vocabulary and the projection.

- ``events``: the vocabulary to import: one frozen dataclass per kind of interaction event (a
  *fact*: ``Queued``, ``Connected``, ``Ended`` ...; defined in ``facts``, with the checks they
  share in ``fields``), each validating itself and converting to and from the JSON stored in
  ``interaction_events.data``; and ``RecordEvent``, the stored envelope of one fact.
- ``projection``: ``apply(projection, fact, at)``, the fold of facts into the columns of an
  ``interactions`` row.

No database, clock, files, environment or logging here (a test enforces it, by folder): the
SQL side is ``cti.records.store``, the background writer ``cti.records.writer``.
"""
