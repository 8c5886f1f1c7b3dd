#!/bin/sh
# After removal (.deb: "remove"/"purge"; .rpm: 0): delete the virtualenvs the postinstall
# built. /etc/dualbeat (the key, the passwords) and /var/lib/dualbeat (state, history) stay.
set -eu
case "${1:-}" in
    remove | purge | 0) ;;
    *) exit 0 ;;
esac
rm -rf /opt/dualbeat/venv /opt/dualbeat/venv.new /opt/dualbeat/venv-*
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
fi
