//go:build !race

package e2e

// raceBuild: the tests run without -race; so is the binary built.
const raceBuild = false
