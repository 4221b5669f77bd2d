package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"gocloud.dev/blob"
	"os"
	"strconv"
	"strings"
	"time"
)

// ClaimSuffix names the small object a running backup holds beside the
// object name it is writing ("<name>.sluice.claim"), so that two runs
// started at once never pick the same name: the claim is created only if
// absent, on every target, before any data is read, and removed when the
// run ends, whatever the outcome. A process killed outright (SIGKILL,
// power loss) leaves its claim behind; later runs skip that name, and the
// claim can be deleted by hand. Nothing in sluice deletes another run's
// claim: whether that run still goes on cannot be told from here.
const ClaimSuffix = ".sluice.claim"

// releaseTimeout bounds removing claims, which runs even after the run's
// context is cancelled.
const releaseTimeout = 30 * time.Second

// claimName returns name, or name with "-2", "-3"… inserted before the
// extensions, whichever exists on no target and could be claimed on every
// target. release removes the claims; call it when the run is over.
//
// The targets in failed (unavailable ones, see [Backup.readyTargets]) take
// no part; a target that cannot be checked or claimed (an error, or no
// answer within the stall timeout) is added to failed with the reason,
// and the others go on. When every target has failed, name comes back
// unclaimed with failed holding them all, for the caller to report; err
// is set only when every variant is taken.
func (b *Backup) claimName(ctx context.Context, name string, failed map[*Target]error) (claimed string, _ map[*Target]error, release func(), err error) {
	allFailed := func() bool { return len(failed) == len(b.Targets) }
	for i := 1; i <= maxVariant && !allFailed(); i++ {
		candidate := b.variant(name, i)
		if b.taken(ctx, candidate, failed) {
			continue
		}
		release, ok := b.claim(ctx, candidate, failed)
		if !ok {
			continue
		}
		// Another run may have committed this name and released its
		// claim between the check above and ours.
		if b.taken(ctx, candidate, failed) || allFailed() {
			release()
			continue
		}
		return candidate, failed, release, nil
	}
	if allFailed() {
		return name, failed, func() {}, nil
	}
	return "", nil, nil, b.errNoFreeName(ctx, name, failed)
}

// maxVariant is the highest number a backup tries in an object's name
// ("-100") before it gives up.
const maxVariant = 100

// variant returns the object name name (b.Name and the extensions) with
// "-i" inserted before the extensions; i = 1 gives name itself.
func (b *Backup) variant(name string, i int) string {
	if i == 1 {
		return name
	}
	return b.Name + "-" + strconv.Itoa(i) + strings.TrimPrefix(name, b.Name)
}

// errNoFreeName is the error for a name whose variants are all taken. It
// says how many of them only a claim holds: runs still going on, or
// killed ones whose claims block those names until they are deleted.
func (b *Backup) errNoFreeName(ctx context.Context, name string, skip map[*Target]error) error {
	claimed := 0
	for i := 1; i <= maxVariant; i++ {
		if !b.taken(ctx, b.variant(name, i), skip) {
			claimed++
		}
	}
	msg := fmt.Sprintf("backup: %s and %d numbered variants already exist or are being written (a name template without {time} reuses one name: add {time}, or prune)", name, maxVariant-1)
	if claimed > 0 {
		msg += fmt.Sprintf("; %d of them are held only by the claim (NAME%s) of a run still going on or killed outright, which prune never removes: delete those no running backup holds", claimed, ClaimSuffix)
	}
	return fmt.Errorf("%s: %w", msg, ErrExists)
}

// PlanName returns the object name [Backup.Run] would store under if it
// started now, for a dry run: b.Name with its extensions, or the first
// numbered variant ("-2", "-3"…) that no target holds as an object, a
// manifest or a running backup's claim. It only reads. Targets that are
// unavailable, not created yet (nothing can be there) or that cannot
// answer are left out. Another run may still take the name first. The
// error is Run's when every variant is taken.
func (b *Backup) PlanName(ctx context.Context) (string, error) {
	name := b.objectName()
	skip := map[*Target]error{}
	for _, t := range b.Targets {
		if t.Unavailable != nil || t.Bucket == nil {
			skip[t] = errors.New("not open")
		}
	}
	for i := 1; i <= maxVariant; i++ {
		candidate := b.variant(name, i)
		if !b.taken(ctx, candidate, skip, ClaimSuffix) {
			return candidate, nil
		}
	}
	return "", b.errNoFreeName(ctx, name, skip)
}

// readyTargets creates the targets' locations that need it
// ([Target.Create]) and returns the targets that cannot be written, each
// with its reason: those unavailable from the start and those whose
// location could not be created.
func (b *Backup) readyTargets(ctx context.Context) map[*Target]error {
	failed := map[*Target]error{}
	for _, t := range b.Targets {
		err := t.Unavailable
		if err == nil && t.Create != nil && t.Bucket == nil {
			if err = t.Create(ctx); err != nil {
				err = fmt.Errorf("target %s: %w", t.URL, err)
			}
		}
		if err != nil {
			failed[t] = err
		}
	}
	return failed
}

// targetContext bounds one request to a target by the stall timeout.
func (b *Backup) targetContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if b.StallTimeout > 0 {
		return context.WithTimeout(ctx, b.StallTimeout)
	}
	return context.WithCancel(ctx)
}

// targetError names t in err, and marks it as a stall when the request's
// own deadline (not the run's context) ended it.
func (b *Backup) targetError(ctx, reqCtx context.Context, t *Target, what string, err error) error {
	if ctx.Err() == nil && errors.Is(reqCtx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("target %s: %s: %w: no progress for %s", t.URL, what, ErrStalled, b.StallTimeout)
	}
	return fmt.Errorf("target %s: %s: %w", t.URL, what, err)
}

// taken reports whether object name or its manifest (or name with one of
// more suffixes) exists on any target not yet in failed, by
// [Target.Occupied] where a target has it. Targets that cannot answer
// are added to failed.
func (b *Backup) taken(ctx context.Context, name string, failed map[*Target]error, more ...string) bool {
	for _, t := range b.Targets {
		if failed[t] != nil {
			continue
		}
		exists := t.Bucket.Exists
		if t.Occupied != nil {
			exists = t.Occupied
		}
		for _, suffix := range append([]string{"", ManifestSuffix}, more...) {
			key := t.Key(name + suffix)
			reqCtx, cancel := b.targetContext(ctx)
			ok, err := exists(reqCtx, key)
			if err != nil {
				failed[t] = b.targetError(ctx, reqCtx, t, "check "+name, err)
			}
			cancel()
			if err != nil {
				break
			}
			if ok {
				return true
			}
		}
	}
	return false
}

// claim creates the claim of name on every target not in failed. ok is
// false, with nothing left claimed, when another run holds it on some
// target. Targets where the claim fails otherwise are added to failed.
func (b *Backup) claim(ctx context.Context, name string, failed map[*Target]error) (release func(), ok bool) {
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
		if failed[t] != nil {
			continue
		}
		var err error
		reqCtx, cancel := b.targetContext(ctx)
		if t.WriteNew != nil {
			err = t.WriteNew(reqCtx, t.Key(name+ClaimSuffix), body)
		} else {
			var wo *blob.WriterOptions
			if wo, err = smallWriterOptions(t, nil, len(body), WriteClaim); err != nil {
				cancel()
				failed[t] = fmt.Errorf("target %s: claim %s: %w", t.URL, name, err)
				continue
			}
			err = WriteSmall(reqCtx, t.Bucket, t.Key(name+ClaimSuffix), body, wo)
		}
		cancel()
		switch {
		case isExists(err):
			release()
			return nil, false
		case err != nil:
			failed[t] = b.targetError(ctx, reqCtx, t, "claim "+name, err)
		default:
			held = append(held, t)
		}
	}
	return release, true
}
