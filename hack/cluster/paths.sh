# Paths and names shared by up.sh, node.sh and down.sh (sourced, not run; `here` is set by the
# caller to this folder). All state of the local cluster lives under .cluster/.
root=$(cd "$here/../.." && pwd)
state="$root/.cluster"
bin="$state/bin"
name=${CLUSTER_NAME:-microservice-operator}
export KWOK_WORKDIR="$state/kwok"   # keeps kwokctl out of ~/.kwok
# shellcheck source=node/node.env
source "$here/node/node.env"
