#!/bin/sh
# Before removal (.deb: "remove"; .rpm: 0), not before an upgrade: stop the agent, which
# hands the active role over to a healthy standby first.
set -eu
case "${1:-}" in
    remove | 0) ;;
    *) exit 0 ;;
esac
if [ -d /run/systemd/system ]; then
    systemctl disable --now dualbeat.service || true
fi
