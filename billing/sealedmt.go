package billing

// Sealed MTs: an MT that carries a secret (the initial wallet password,
// OutboxSecret) is written to the outbox sealed with wallet.Sealer, so the
// clear text never reaches a table, its free pages, its dead tuples or the
// WAL (issue 18.3). Its row keeps a placeholder body with the secret masked
// and the sealed box (outbox.sealed); the Dispatcher opens the box just
// before sending, and the engine's sweep drops it once sent
// (SecretScrubber).

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/carrierbill/carrierbill/wallet"
)

// ErrSealedMT: a sealed MT could not be opened (the Dispatcher has no
// Unseal, or the key is not the one that sealed it). The MT is not sent
// (its placeholder would mean nothing to the subscriber) and is retried.
var ErrSealedMT = errors.New("billing: cannot open a sealed MT")

// textOf is the text to send for m: its body, or its sealed text opened.
func (d *Dispatcher) textOf(m OutboxMsg) (string, error) {
	if len(m.Sealed) == 0 {
		return m.Body, nil
	}
	if d.Unseal == nil {
		return "", fmt.Errorf("%w: the dispatcher has no Unseal", ErrSealedMT)
	}
	text, err := d.Unseal(m.MSISDN, m.Sealed)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrSealedMT, err)
	}
	return text, nil
}

// sealingTx is the outbox of a card transaction that seals an MT of kind
// OutboxSecret: the row keeps the box (OutboxMsg.Sealed, wallet.Sealer
// for its number) and the body with every occurrence of secret masked.
type sealingTx struct {
	tx interface {
		Enqueue(ctx context.Context, m OutboxMsg) (int64, error)
	}
	sealer *wallet.Sealer
	secret string
}

func (s sealingTx) Enqueue(ctx context.Context, m OutboxMsg) (int64, error) {
	if m.Kind == OutboxSecret {
		box, err := s.sealer.Seal(m.MSISDN, m.Body)
		if err != nil {
			return 0, fmt.Errorf("sealing a secret MT: %w", err)
		}
		m.Sealed = box
		if s.secret != "" {
			m.Body = strings.ReplaceAll(m.Body, s.secret, strings.Repeat("*", len(s.secret)))
		}
	}
	return s.tx.Enqueue(ctx, m)
}
