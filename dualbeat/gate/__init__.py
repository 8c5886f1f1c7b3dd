"""The client gate: shut the MySQL port to clients at the network level, in this host's
own network namespace, and tear down the client connections already open.

Why at the network level: a demoting active whose mysqld is frozen or dying cannot be
asked to refuse clients or kill their sessions, and a frozen server that thaws would commit
whatever a client sends it next. The kernel answers for it: new client connections get a
TCP reset at once (a refusal the client can retry through the VIP), and the established
ones are destroyed (``ss -K``: netlink sock_diag SOCK_DESTROY, which sends the client a
reset) *while this host still holds the VIP*, since a reset sent after the address is gone
never reaches the client.

Rule 1: the gate touches only its own nftables table (``inet dualbeat``), never another.
Rule 2: the agent's own and the replication connections stay allowed, by source address
        (see ``ruleset``): the peer's and this host's own addresses and loopback.
Rule 3: every call is bounded (a subprocess with a timeout) and never talks to MySQL.
Rule 4: subprocess and kernel errors are translated into ``dualbeat.errors.GateError`` here.
"""
