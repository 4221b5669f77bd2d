package age_test

import (
	"io"
	"testing"

	"filippo.io/age"
	"filippo.io/age/armor"
)

// armorEncrypt writes payload as an armored age file, as `age -a` does.
func armorEncrypt(t *testing.T, dst io.Writer, r age.Recipient, payload []byte) {
	t.Helper()
	a := armor.NewWriter(dst)
	w, err := age.Encrypt(a, r)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(payload)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
}
