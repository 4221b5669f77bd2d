package pipeline_test

import (
	"testing"

	"github.com/sluice-backup/sluice/pipeline"
)

// TestObjectURL checks that an object's URL is its target's with the name
// added to the path, keeping the target's query (what reaches the store).
func TestObjectURL(t *testing.T) {
	tests := []struct{ target, name, want string }{
		{"s3://b/p", "x.zst", "s3://b/p/x.zst"},
		{"s3://b", "x.zst", "s3://b/x.zst"},
		{"mem://default", "a/b c", "mem://default/a/b%20c"},
		{"file:///srv/bk", "q?#%.age", "file:///srv/bk/q%3F%23%25.age"},
		{"s3://b/p?endpoint=http://127.0.0.1:9000&use_path_style=true", "db.zst.age",
			"s3://b/p/db.zst.age?endpoint=http://127.0.0.1:9000&use_path_style=true"},
		{"s3://b?region=eu-west-1", "a?b", "s3://b/a%3Fb?region=eu-west-1"},
		{"gs://b/my%20dir?anonymous=true", "x", "gs://b/my%20dir/x?anonymous=true"},
	}
	for _, tt := range tests {
		tg := &pipeline.Target{URL: tt.target}
		if got := tg.ObjectURL(tt.name); got != tt.want {
			t.Errorf("ObjectURL(%q) on %s = %q, want %q", tt.name, tt.target, got, tt.want)
		}
	}
}
