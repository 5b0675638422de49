package merchantapi_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/carrierbill/carrierbill/billing"
	"github.com/carrierbill/carrierbill/merchantapi"
)

// Signed requests: a valid signature is used once; a replay, a stale
// timestamp, a wrong HMAC and a missing signature (for a merchant that
// must sign) each get a CAMARA error naming the header, and nothing is
// stored.
func TestSignedRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{merchants: map[string]merchantapi.MerchantOptions{"8002": {SignedRequests: true}}})
	secret := merchantapi.MerchantSecret(notifyKey, "8001")
	body := prepareBody(phoneA, "", "signed-1", "5.00", false)
	sig := merchantapi.Sign(secret, e.clock.Now(), []byte(body))
	if r := e.do(e.key8001, "POST", pay+"/prepare", body, merchantapi.SignatureHeader, sig); r.status != http.StatusCreated {
		t.Fatalf("signed prepare: %d %s", r.status, r.body)
	}
	// The same request again, signature and all: a replay.
	r := e.do(e.key8001, "POST", pay+"/prepare", body, merchantapi.SignatureHeader, sig)
	r.wantError(t, http.StatusUnauthorized, "UNAUTHENTICATED", merchantapi.SignatureHeader)
	if !strings.Contains(string(r.body), "already used") {
		t.Fatalf("replay: %s", r.body)
	}
	body2 := prepareBody(phoneA, "", "signed-2", "5.00", false)
	stale := merchantapi.Sign(secret, e.clock.Now().Add(-10*time.Minute), []byte(body2))
	e.do(e.key8001, "POST", pay+"/prepare", body2, merchantapi.SignatureHeader, stale).wantError(t, http.StatusUnauthorized, "UNAUTHENTICATED", merchantapi.SignatureHeader)
	wrong := merchantapi.Sign([]byte("not the secret"), e.clock.Now(), []byte(body2))
	e.do(e.key8001, "POST", pay+"/prepare", body2, merchantapi.SignatureHeader, wrong).wantError(t, http.StatusUnauthorized, "UNAUTHENTICATED", merchantapi.SignatureHeader)
	// 8002 must sign.
	body3 := strings.Replace(prepareBody(phoneB, "", "unsigned-1", "5.00", false), `"merchantIdentifier":"8001"`, `"merchantIdentifier":"8002"`, 1)
	e.do(e.key8002, "POST", pay+"/prepare", body3, "").wantError(t, http.StatusUnauthorized, "UNAUTHENTICATED", merchantapi.SignatureHeader)
	// Nothing of the refused requests was stored.
	for _, ref := range [][2]string{{"8001", "signed-2"}, {"8002", "unsigned-1"}} {
		if _, err := e.store.APIPaymentByReference(e.ctx, ref[0], ref[1]); !errors.Is(err, billing.ErrNotFound) {
			t.Fatalf("refused %s was stored: %v", ref[1], err)
		}
	}
}
