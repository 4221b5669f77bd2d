package main

// The stages and backends sluice ships register themselves in init.
import (
	_ "github.com/sluice-backup/sluice/backends"
	_ "github.com/sluice-backup/sluice/stages/age"
	_ "github.com/sluice-backup/sluice/stages/fernet"
	_ "github.com/sluice-backup/sluice/stages/gzip"
	_ "github.com/sluice-backup/sluice/stages/none"
	_ "github.com/sluice-backup/sluice/stages/s2"
	_ "github.com/sluice-backup/sluice/stages/zstd"
)
