"""The address seam: netlink through pyroute2.

Rule 1: nothing else in dualbeat reads or changes interface addresses.
Rule 2: netlink errors are translated into ``dualbeat.errors`` here.
"""
