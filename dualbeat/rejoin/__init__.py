"""Fail-back: what a returning node holds that the active lacks, and what to do with it.

Rule 1: the analysis only reads. It runs against a fenced node and the live active and
        changes neither (no statement but ``SELECT``/``SHOW`` and a binlog dump).
Rule 2: the report is the contract. ``report.Analysis`` is pure data with a versioned JSON
        form; the later steps (``--reapply``, ``--discard``, ``--accept``) and ``history``
        consume the saved file, never the live servers' state at analysis time.
Rule 3: classification is a pure function of the row images and what the active holds
        (``report.Classifier`` over a lookup callable), so every class is a unit test.
"""
