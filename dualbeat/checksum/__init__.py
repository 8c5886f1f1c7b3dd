"""``dualbeat checksum``: compare the data of both servers chunk by chunk, reading only.

Rule 1: nothing here writes to either server (sessions are ``READ ONLY``); a checksum
        table on the passive would itself be an errant transaction.
Rule 2: all SQL text of the feature lives in ``sql``; ``compare`` runs the walk and
        ``report`` classifies and renders what differs.
"""
