package s3test

import (
	"os"
	"strings"
)

// ToolEnv is the environment for AWS tools run as child processes (the
// aws CLI, boto3): os.Environ() without the empty AWS_* variables [Env]
// sets to blank the machine's own, since botocore reads an empty
// AWS_PROFILE as a profile named "".
func ToolEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") && v == "" {
			continue
		}
		env = append(env, kv)
	}
	return env
}
