// The pause process of every pod sandbox on the real node. No registry is reachable here, so it
// is built from this module and imported into containerd as its sandbox_image.
module local.invalid/cluster/pause

go 1.25.0
