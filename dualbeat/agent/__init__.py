"""The agent: observe -> decide -> act, one process per database server.

Rule 1: this package owns the event loop; everything else is called from it. Decisions
        are made only by ``dualbeat.core.decide``; nothing here judges a situation.
Rule 2: blocking work (SQL, netlink, hooks) runs in worker threads with timeouts; a slow
        action never delays a heartbeat or a probe.
Rule 3: every decision is queued for the event log before its actions run (its own thread
        writes and fsyncs it, off the loop), and the durable state is fsynced before a
        promotion makes MySQL writable.
"""
