package main

import (
	"strings"
	"testing"
)

// TestLogsHoldNoSecretsEndToEnd: a gateway run at debug level — a phone
// purchase with a wrong code then the right one, a CX query, a card bound
// and paid with its wallet password — leaves no phone number (in any
// spelling), code, password, card number or ID number in its captured log,
// while technical values (the service code) stay readable (issue 18.9:
// mask by field, not every digit run).
func TestLogsHoldNoSecretsEndToEnd(t *testing.T) {
	t.Parallel()
	h := bootCards(t, true)
	secrets := []string{testPAN, testOwnerID}
	addPhone := func(p string) {
		national := p[len(p)-11:]
		secrets = append(secrets, p, national, "+86"+national)
	}

	a := h.newPhone()
	addPhone(a)
	h.send(a, "106580088001", "VIP")
	code := codeOf(t, h.reply(a, 1))
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	h.send(a, "106580088001", wrong)
	h.reply(a, 2)
	h.send(a, "106580088001", code)
	h.reply(a, 3)
	h.send(a, "106580088001", "CX")
	h.reply(a, 4)
	secrets = append(secrets, code)

	b := h.newPhone()
	addPhone(b)
	password := h.bind(b)
	h.send(b, "106580088001", "VIP K")
	cardCode := codeOf(t, h.reply(b, 2))
	h.send(b, "106580088001", cardCode+" "+password)
	h.reply(b, 3)
	secrets = append(secrets, password, cardCode)

	h.stop()
	logs := h.logs.String()
	if !strings.Contains(logs, "charged") || len(logs) < 2000 {
		t.Fatalf("the captured log looks empty, the proof would be vacuous:\n%s", logs)
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the log holds %s…%s in clear", s[:2], s[len(s)-1:])
		}
	}
	if !strings.Contains(logs, "10658008") {
		t.Errorf("the service code 10658008 is masked in the log (over-masking)")
	}
}
