"""The audit store: SQLAlchemy tables, the engine, and the query functions on them.

Every query function takes ``session`` keyword-only and runs inside the caller's
transaction (``with session.begin():`` or :func:`guardq.store.db.session_scope`); what
they return are plain frozen dataclasses, never ORM objects, so results can cross the
broker or an HTTP response safely.
"""
