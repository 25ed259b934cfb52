#!/bin/sh
# The set-up of docker/compose.yaml (its `setup` service; docs/deploy.md): runs
# `medtrace "$@"` (`demo --setup-only --docker --out /ceremony/out`), then hands each node its
# share: its data directory into its own volume (/nodes/<name>), its passphrase into
# /secrets/<name>.passphrase (docker/secrets/ on the host: the node's compose secret). The
# consortium's sealed keys stay in the ceremony volume, which no node mounts; its passphrase
# goes to /secrets/consortium.passphrase. Refuses, changing nothing, when a node is set up.
set -eu
out=/ceremony/out
nodes="manufacturer distributor customs pharmacy regulator"
for name in $nodes; do
    if [ -e "/nodes/$name/node.json" ] || [ -e "/secrets/$name.passphrase" ]; then
        echo "error: expected no $name node yet, found one (its volume or" \
            "docker/secrets/$name.passphrase): remove the volumes and those files to set" \
            "the network up again; nothing was changed" >&2
        exit 1
    fi
done
medtrace "$@"
umask 077
for name in $nodes; do
    cp -a "$out/nodes/$name/." "/nodes/$name/"
    rm -rf "${out:?}/nodes/$name"
    cp "$out/secrets/$name.passphrase" "/secrets/$name.passphrase"
    rm -f "$out/secrets/$name.passphrase"
done
cp "$out/secrets/consortium.passphrase" /secrets/consortium.passphrase
rm -f "$out/secrets/consortium.passphrase"
echo "set up: five node volumes, docker/secrets/<node>.passphrase for each node," \
    "docker/secrets/consortium.passphrase"
