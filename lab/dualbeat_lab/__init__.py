"""The dualbeat lab: everything that builds, breaks and measures a local pair, kept out of the
product so that production servers never install it.

Subpackages: ``sandbox`` (the pair in network namespaces, drills, side-by-side stacks,
figures, soak), ``chaos`` (seeded fault schedules and the checker). ``cli`` adds
``dualbeat sandbox ...`` to the product's command through the ``dualbeat.commands`` entry
point group. The lab may import ``dualbeat``; ``dualbeat`` never imports the lab.
"""
