package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"gocloud.dev/blob"
)

// ClaimSuffix names the small object a running backup holds beside the
// object name it is writing ("<name>.sluice.claim"), so that two runs
// started at once never pick the same name: the claim is created only if
// absent, on every target, before any data is read, and removed when the
// run ends, whatever the outcome. A process killed outright (SIGKILL,
// power loss) leaves its claim behind; later runs skip that name, and the
// claim can be deleted by hand (or by prune).
const ClaimSuffix = ".sluice.claim"

// releaseTimeout bounds removing claims, which runs even after the run's
// context is cancelled.
const releaseTimeout = 30 * time.Second

// claimName returns name, or name with "-2", "-3"… inserted before the
// extensions, whichever exists on no target and could be claimed on every
// target. release removes the claims; call it when the run is over.
func (b *Backup) claimName(ctx context.Context, name string) (claimed string, release func(), err error) {
	base, ext := b.Name, strings.TrimPrefix(name, b.Name)
	for i := 1; i <= 100; i++ {
		candidate := name
		if i > 1 {
			candidate = base + "-" + strconv.Itoa(i) + ext
		}
		taken, err := b.taken(ctx, candidate)
		if err != nil {
			return "", nil, err
		}
		if taken {
			continue
		}
		release, ok, err := b.claim(ctx, candidate)
		if err != nil {
			return "", nil, err
		}
		if !ok {
			continue
		}
		// Another run may have committed this name and released its
		// claim between the check above and ours.
		if taken, err = b.taken(ctx, candidate); err != nil || taken {
			release()
			if err != nil {
				return "", nil, err
			}
			continue
		}
		return candidate, release, nil
	}
	return "", nil, fmt.Errorf("backup: %s and 99 numbered variants already exist or are being written: %w", name, ErrExists)
}

// taken reports whether object name or its manifest exists on any target.
func (b *Backup) taken(ctx context.Context, name string) (bool, error) {
	for _, t := range b.Targets {
		for _, key := range []string{t.Key(name), t.Key(name + ManifestSuffix)} {
			ok, err := t.Bucket.Exists(ctx, key)
			if err != nil {
				return false, fmt.Errorf("backup: target %s: %w", t.URL, err)
			}
			if ok {
				return true, nil
			}
		}
	}
	return false, nil
}

// claim creates the claim of name on every target. ok is false, with
// nothing left claimed, when another run holds it on some target.
func (b *Backup) claim(ctx context.Context, name string) (release func(), ok bool, err error) {
	host, _ := os.Hostname()
	body, _ := json.Marshal(map[string]any{"object": name, "host": host, "pid": os.Getpid(), "started": b.now().UTC()})
	var held []*Target
	release = func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
		for _, t := range held {
			t.Bucket.Delete(ctx, t.Key(name+ClaimSuffix))
		}
		held = nil
	}
	for _, t := range b.Targets {
		err := t.Bucket.WriteAll(ctx, t.Key(name+ClaimSuffix), body, &blob.WriterOptions{
			ContentType: "application/json",
			IfNotExist:  true,
		})
		if isExists(err) {
			release()
			return nil, false, nil
		}
		if err != nil {
			release()
			return nil, false, fmt.Errorf("backup: target %s: claim %s: %w", t.URL, name, err)
		}
		held = append(held, t)
	}
	return release, true, nil
}
