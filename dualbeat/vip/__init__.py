"""The address seam: netlink on a raw socket (``netlink``), ARP through a packet socket.

Rule 1: nothing else in dualbeat reads or changes interface addresses.
Rule 2: netlink and socket errors are translated into ``dualbeat.errors`` here.
Rule 3: the VIP is never added while another host answers an ARP probe for it
        (``VipManager.claim`` raises ``VipConflict`` instead).
Rule 4: every claim ends with a gratuitous ARP burst, even if the address was already there.
"""
