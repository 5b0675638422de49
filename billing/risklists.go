package billing

// RiskPrefixes returns the prefixes of msisdn that a prefix entry of a
// risk list can name (RiskTx.RiskListed): every leading run of it, itself
// included, at most 16 for an E.164 number. The stores look them up by
// equality on an index instead of matching patterns.
func RiskPrefixes(msisdn string) []string {
	ps := make([]string, 0, len(msisdn))
	for i := 1; i <= len(msisdn); i++ {
		ps = append(ps, msisdn[:i])
	}
	return ps
}
