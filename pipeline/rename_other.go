//go:build !linux

package pipeline

// renameNoReplace renames from to to, failing with an error matching
// [fs.ErrExist] if something is at to. Without an atomic no-replace
// rename here, it is [renameChecked]: something created at to between
// its check and the rename may be replaced.
func renameNoReplace(from, to string) error { return renameChecked(from, to) }
