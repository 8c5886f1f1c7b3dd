#!/bin/sh
# After install or upgrade (.deb: "configure"; .rpm: 1 or 2). Builds the virtualenv from the
# packaged wheelhouse (offline) and switches /opt/dualbeat/venv to it in one rename.
# A running agent keeps using the tree it started from (its scripts name the versioned
# directory), so the previous tree is kept until the next upgrade: restart the agent
# when convenient (docs/runbook.md: "Upgrade dualbeat without downtime").
set -eu
case "${1:-}" in
    configure | 1 | 2 | "") ;;
    *) exit 0 ;;
esac
ROOT=/opt/dualbeat
version=@VERSION@  # filled in by packaging/build (during an rpm upgrade both wheels are here)
python=
for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 \
        && "$candidate" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        python=$candidate
        break
    fi
done
if [ -z "$python" ]; then
    echo "dualbeat: needs Python >= 3.11 with venv and ensurepip (Debian: python3-venv)" >&2
    exit 1
fi
target="$ROOT/venv-$version"
rm -rf "$target"
"$python" -m venv "$target"
"$target/bin/pip" install --quiet --no-index --no-cache-dir --disable-pip-version-check \
    --find-links "$ROOT/wheels" "dualbeat==$version"
previous=$(readlink "$ROOT/venv" 2>/dev/null || true)
ln -sfn "$target" "$ROOT/venv.new"
mv -T "$ROOT/venv.new" "$ROOT/venv"
# Keep the tree a running agent may still use; remove older ones.
for old in "$ROOT"/venv-*; do
    [ "$old" = "$target" ] || [ "$old" = "$previous" ] || rm -rf "$old"
done
chmod 0700 /etc/dualbeat
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
fi
echo "dualbeat $version installed. Next: dualbeat init /etc/dualbeat (man dualbeat-init)."
