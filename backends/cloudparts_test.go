package backends

import (
	"bytes"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"gocloud.dev/blob"

	"github.com/sluice-backup/sluice/backends/azuretest"
	"github.com/sluice-backup/sluice/backends/faultproxy"
	"github.com/sluice-backup/sluice/backends/gcstest"
	"github.com/sluice-backup/sluice/pipeline"
)

// TestPlanAzure checks Azure block plans at the default budget shared by
// one to eight targets. Before sluice planned them, every Azure upload
// buffered the SDK's 5 blocks of 8 MiB.
func TestPlanAzure(t *testing.T) {
	const gib, tib = 1 << 30, 1 << 40
	share := func(targets int64) int64 { return pipeline.DefaultUploadMemory / targets }
	for _, tc := range []struct {
		name        string
		size        int64
		memory      int64
		block, conc int64
	}{
		{"1 target, unknown", -1, share(1), 16 * mib, 3},
		{"1 target, 1 GiB", gib, share(1), 8 * mib, 5},
		{"3 targets, unknown", -1, share(3), 16 * mib, 1},
		{"3 targets, 1 GiB", gib, share(3), 3 * mib, 5},
		{"3 targets, 1 TiB", tib, share(3), 24 * mib, 1},
		{"8 targets, unknown", -1, share(8), 6 * mib, 1},
		{"8 targets, 1 GiB", gib, share(8), 1 * mib, 5},
		{"no budget given", gib, 0, 8 * mib, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := azureBlocks.plan(tc.size, 0, azureConcurrency, tc.memory)
			if err != nil {
				t.Fatal(err)
			}
			if p.part != tc.block || int64(p.concurrency) != tc.conc {
				t.Errorf("block %s × %d; want %s × %d", fmtBytes(p.part), p.concurrency, fmtBytes(tc.block), tc.conc)
			}
			checkPlan(t, azureBlocks, p, tc.size, 0, azureConcurrency, tc.memory)
		})
	}
	if _, err := azureBlocks.plan(200<<40, 0, azureConcurrency, 0); err == nil || !strings.Contains(err.Error(), "needs more than 50000 parts") {
		t.Errorf("a 200 TiB blob: err %v, want too many blocks", err)
	}
}

// TestGCSChunk checks the resumable-upload chunk GCS writes get.
func TestGCSChunk(t *testing.T) {
	const kib = 1 << 10
	for _, tc := range []struct {
		name         string
		size, memory int64
		chunk        int64
	}{
		{"1 target, unknown", -1, pipeline.DefaultUploadMemory, 16 * mib},
		{"3 targets, unknown", -1, pipeline.DefaultUploadMemory / 3, 16 * mib},
		{"4 targets, unknown", -1, pipeline.DefaultUploadMemory / 4, 12 * mib},
		{"7 targets: a share in 256 KiB steps", -1, pipeline.DefaultUploadMemory / 7, 6*mib + 768*kib},
		{"100 targets: 1 MiB floor", -1, pipeline.DefaultUploadMemory / 100, 1 * mib},
		{"small object", 3*mib + 1, pipeline.DefaultUploadMemory, 3*mib + 256*kib},
		{"empty object", 0, pipeline.DefaultUploadMemory, 256 * kib},
		{"no budget given", -1, 0, 16 * mib},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := gcsChunk(tc.size, tc.memory)
			if got != tc.chunk {
				t.Errorf("chunk %s, want %s", fmtBytes(got), fmtBytes(tc.chunk))
			}
			if got%gcsChunkAlign != 0 {
				t.Errorf("chunk %d is not a multiple of 256 KiB", got)
			}
		})
	}
}

// TestAzureBlocksFollowPrepare uploads 12 MiB to Azurite with the blocks
// Prepare plans for a small and for the default memory share, and reads
// the committed block list back: the plan reaches the SDK.
func TestAzureBlocksFollowPrepare(t *testing.T) {
	serviceURL := azuretest.StartAzurite(t, "blocks")
	tg, err := OpenTarget(t.Context(), newRegistry(), "azblob://blocks/p", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	container := azuretest.Client(t, serviceURL).ServiceClient().NewContainerClient("blocks")
	data := bytes.Repeat([]byte("sluice"), 2<<20) // 12 MiB
	for _, tc := range []struct {
		memory int64
		blocks int
	}{
		{memory: 4 * mib, blocks: 12},                     // 1 MiB blocks, 4 in flight
		{memory: pipeline.DefaultUploadMemory, blocks: 2}, // 8 MiB blocks
	} {
		wo := &blob.WriterOptions{}
		if _, err := tg.Prepare(wo, pipeline.Write{Size: int64(len(data)), Memory: tc.memory}); err != nil {
			t.Fatal(err)
		}
		key := tg.Key(fmtBytes(tc.memory))
		if err := tg.Bucket.WriteAll(t.Context(), key, data, wo); err != nil {
			t.Fatal(err)
		}
		list, err := container.NewBlockBlobClient(key).GetBlockList(t.Context(), blockblob.BlockListTypeCommitted, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(list.CommittedBlocks); got != tc.blocks {
			t.Errorf("memory %s: %d committed blocks, want %d", fmtBytes(tc.memory), got, tc.blocks)
		}
		back, err := tg.Bucket.ReadAll(t.Context(), key)
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("memory %s: read back %d bytes (err %v), want the 12 MiB written", fmtBytes(tc.memory), len(back), err)
		}
	}
}

// TestGCSChunksFollowPrepare uploads 12 MiB to fake-gcs-server through a
// proxy that logs requests: with a 4 MiB memory share the resumable
// upload sends its data in at least three chunk requests (the client may
// add an empty one that finalizes), while the default share's 16 MiB
// chunk holds it all and the client sends a single request.
func TestGCSChunksFollowPrepare(t *testing.T) {
	srv := gcstest.StartFakeGCS(t, "chunks")
	proxy := faultproxy.Start(t, srv.URL())
	t.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(proxy.URL, "http://"))
	tg, err := OpenTarget(t.Context(), newRegistry(), "gs://chunks/p", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	data := bytes.Repeat([]byte("sluice"), 2<<20) // 12 MiB
	for _, tc := range []struct {
		memory         int64
		minChunks      int
		maxChunks      int
		requestsAtMost int
	}{
		{memory: 4 * mib, minChunks: 3, maxChunks: 4, requestsAtMost: 5},
		{memory: pipeline.DefaultUploadMemory, minChunks: 0, maxChunks: 0, requestsAtMost: 1},
	} {
		wo := &blob.WriterOptions{}
		if _, err := tg.Prepare(wo, pipeline.Write{Size: -1, Memory: tc.memory}); err != nil {
			t.Fatal(err)
		}
		before := len(proxy.Log())
		key := tg.Key(fmtBytes(tc.memory))
		if err := tg.Bucket.WriteAll(t.Context(), key, data, wo); err != nil {
			t.Fatal(err)
		}
		requests := proxy.Log()[before:]
		chunks := 0
		for _, line := range requests {
			if strings.Contains(line, "upload_id=") {
				chunks++
			}
		}
		if chunks < tc.minChunks || chunks > tc.maxChunks || len(requests) > tc.requestsAtMost {
			t.Errorf("memory %s: %d chunk requests of %d; want %d to %d chunks, at most %d requests: %q",
				fmtBytes(tc.memory), chunks, len(requests), tc.minChunks, tc.maxChunks, tc.requestsAtMost, requests)
		}
		back, err := tg.Bucket.ReadAll(t.Context(), key)
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("memory %s: read back %d bytes (err %v), want the 12 MiB written", fmtBytes(tc.memory), len(back), err)
		}
	}
}
