"""Jepsen-style chaos for the sandbox pair: a seeded fault schedule, several writers through
the VIP, and a checker (``python -m dualbeat_lab.chaos --seed S --duration D``, ``make chaos``).

Modules: ``schedule`` (pure: the steps from a seed), ``injectors`` (how each fault kind is
done and healed on the lab), ``writer`` (one logging writer process), ``run`` (the
orchestration and the fenced-node resolution), ``checker`` (pure: the verdict).
"""
