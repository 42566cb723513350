# Go settings shared by the cluster build scripts (sourced, not run).
# The Go checksum database is not reachable from this workplace, so module hashes are
# recorded once in the committed go.sum files under hack/cluster/modules/ and verified
# against them on every later build. GONOSUMDB only skips the online lookup; it never
# disables the go.sum check. -insecure is never used.
export GOTOOLCHAIN=local
export GONOSUMDB='*'
export GOFLAGS='-buildvcs=false -trimpath'
export CGO_ENABLED=0
