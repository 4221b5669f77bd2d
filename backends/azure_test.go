package backends

import (
	"testing"

	"github.com/sluice-backup/sluice/backends/azuretest"
	"github.com/sluice-backup/sluice/backends/backendtest"
)

func TestConformanceAzurite(t *testing.T) {
	azuretest.StartAzurite(t, "conformance")
	backendtest.Run(t, opener(newRegistry(), func(t *testing.T) string {
		return "azblob://conformance/" + uniqueName()
	}))
}
