package fsync

// FlushEach exposes the walk that flushes a tree where syncfs(2) is
// missing, so that it is tested on Linux too.
var FlushEach = flushEach
