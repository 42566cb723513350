// volume-helper makes or removes one PersistentVolume's directory, called by the local-path
// provisioner's helper pod as `volume-helper -p PATH -s SIZE -m MODE -a create|delete`.
// The directory is made 0777, as the provisioner's default setup script does: a hostPath volume
// ignores fsGroup, so a non-root database must be able to create its own data directory inside.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	path := flag.String("p", "", "the volume's directory (absolute)")
	action := flag.String("a", "", "create or delete")
	flag.String("s", "", "the volume's size in bytes (not enforced)")
	flag.String("m", "", "the volume mode (Filesystem)")
	flag.Parse()
	if err := run(*path, *action); err != nil {
		fmt.Fprintln(os.Stderr, "volume-helper:", err)
		os.Exit(1)
	}
}

func run(path, action string) error {
	if !filepath.IsAbs(path) || filepath.Clean(path) == "/" {
		return fmt.Errorf("-p must be an absolute path below /, got %q", path)
	}
	switch action {
	case "create":
		if err := os.MkdirAll(path, 0o777); err != nil {
			return err
		}
		return os.Chmod(path, 0o777) // MkdirAll's mode is filtered by the umask
	case "delete":
		return os.RemoveAll(path)
	default:
		return fmt.Errorf("-a must be create or delete, got %q", action)
	}
}
