"""Data quality, pure: ``checks`` (measured facts of one published partition) and ``charts``
(the quality report's PNG charts). The SQL behind some facts is ``store.quality``; the report
itself is ``workflows.quality_report``.
"""
