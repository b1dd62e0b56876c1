//go:build race

package e2e

// raceBuild: the tests run with -race, so the binary is built with it too.
const raceBuild = true
