"""The pure core: decisions as plain functions of state, observations and time.

Rule 1: nothing in this package imports outside the standard library and ``dualbeat.core``
        itself (a test walks the imports).
Rule 2: no I/O, no sleeping, no clocks: time arrives as an argument.
Rule 3: vocabularies are closed: enums and frozen dataclasses, never bare strings as states.
"""
