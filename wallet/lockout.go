package wallet

import "time"

// MaxWrongPasswords is how many consecutive wrong passwords lock a wallet.
const MaxWrongPasswords = 3

// Lock is the lockout state of one wallet, as stored beside its hash.
//
//	open(failures 0) ──wrong──> open(1) ──wrong──> open(2) ──wrong──> locked
//	      ^                 │                 │                      │
//	      └──right password─┴─────────────────┘                      │
//	      └──────────── operator Unlock / Reset ─────────────────────┘
//
// While locked, bank-card payments and password changes are refused even
// with the right password; only an operator unlocks (or resets the password).
type Lock struct {
	Failures int       // consecutive wrong passwords
	LockedAt time.Time // zero while not locked
}

// Locked reports whether the wallet is locked.
func (l Lock) Locked() bool { return !l.LockedAt.IsZero() }

// Left is how many wrong passwords remain before the wallet locks.
func (l Lock) Left() int {
	if l.Locked() {
		return 0
	}
	return MaxWrongPasswords - l.Failures
}

// Wrong returns the state after a wrong password at now: the third
// consecutive one locks. A locked wallet stays as it is.
func (l Lock) Wrong(now time.Time) Lock {
	if l.Locked() {
		return l
	}
	l.Failures++
	if l.Failures >= MaxWrongPasswords {
		l.LockedAt = now
	}
	return l
}

// Right returns the state after a right password: the count of wrong ones
// starts over. It does not unlock a locked wallet (check Locked first).
func (l Lock) Right() Lock {
	if l.Locked() {
		return l
	}
	return Lock{}
}

// Unlock is the operator's action: the wallet opens with no failures.
func (l Lock) Unlock() Lock { return Lock{} }
