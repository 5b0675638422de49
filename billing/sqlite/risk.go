package sqlite

import (
	"context"
	"errors"
	"time"

	"github.com/carrierbill/carrierbill/billing"
)

// The risk rules' rows (billing/risk.go). Stubs until the risk store lands.

var errRiskTODO = errors.New("sqlite: risk storage not implemented yet")

func (t *txImpl) RiskListed(ctx context.Context, msisdn, merchant string, now time.Time) ([]billing.RiskListEntry, error) {
	return nil, nil
}

func (t *txImpl) InsertRiskDecision(ctx context.Context, d billing.RiskDecision) (int64, error) {
	return 0, errRiskTODO
}

func (t *txImpl) AddRiskListEntry(ctx context.Context, e billing.RiskListEntry) (int64, error) {
	return 0, errRiskTODO
}

func (t *txImpl) EndRiskListEntries(ctx context.Context, list billing.RiskList, subject billing.RiskSubject, value string, now time.Time) (int, error) {
	return 0, errRiskTODO
}

func (t *txImpl) RenewOrderCode(ctx context.Context, o billing.Order) error { return errRiskTODO }

func (t *txImpl) HoldDecision(ctx context.Context, orderID int64) (billing.RiskDecision, error) {
	return billing.RiskDecision{}, errRiskTODO
}

func (t *txImpl) ResolveRiskDecision(ctx context.Context, d billing.RiskDecision) error {
	return errRiskTODO
}

func (s *Store) RiskDecisions(ctx context.Context, q billing.RiskDecisionQuery) ([]billing.RiskDecision, error) {
	return nil, errRiskTODO
}

func (s *Store) RiskListEntries(ctx context.Context, list billing.RiskList, now time.Time, all bool) ([]billing.RiskListEntry, error) {
	return nil, errRiskTODO
}

func (s *Store) HeldOrders(ctx context.Context, limit int) ([]billing.Order, error) {
	return nil, errRiskTODO
}
