package pipeline

import "testing"

// SetTempHook makes f the hook called at each step of a restore's use of
// its temporary folder (see tempHook) until the test ends.
func SetTempHook(t testing.TB, f func(step, path string)) {
	saved := tempHook
	tempHook = f
	t.Cleanup(func() { tempHook = saved })
}
