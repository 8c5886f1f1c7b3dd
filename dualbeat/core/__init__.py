"""The pure core: decisions as plain functions of state, observations and time.

Rule 1: nothing in this package imports anything but ``dualbeat.core`` itself and the
        standard library's data modules (``enum``, ``dataclasses``, ``typing``, ``re`` ...):
        no clock, randomness, socket, process, thread, file or OS module, relative imports
        included (``tests/test_gates.py`` walks every module's syntax tree).
Rule 2: no I/O, no sleeping, no clocks: time arrives as an argument.
Rule 3: vocabularies are closed: enums and frozen dataclasses, never bare strings as states.
"""
