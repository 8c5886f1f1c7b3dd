"""The lab's one error: kept in the dualbeat hierarchy so that the product's CLI prints it as
one clear message and exits with its code, without the product knowing the lab exists."""

from __future__ import annotations

from dualbeat.errors import DualbeatError


class SandboxError(DualbeatError):
    """The local sandbox pair could not be built, inspected or removed."""

    exit_code = 5
