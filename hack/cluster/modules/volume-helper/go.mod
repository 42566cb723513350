// The helper pods of the local-path provisioner: they make and remove each volume's directory on
// the real node. No registry is reachable here, so instead of busybox and a shell script this
// module's binary is imported into containerd (setupCommand and teardownCommand of its config).
module local.invalid/cluster/volumehelper

go 1.25.0
