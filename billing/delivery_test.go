package billing

import "testing"

func TestKeysOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		id   string
		want ReceiptKeys
	}{
		{"", ReceiptKeys{}},
		{" 000000002a\x00", ReceiptKeys{Exact: "2A", AsDec: "42"}},
		{"42", ReceiptKeys{Exact: "42", AsHex: "2A", AsDec: "66"}},
		{"0000", ReceiptKeys{Exact: "0"}},
		{"msg-7", ReceiptKeys{Exact: "MSG-7"}},
		{"123456789012345678901234567890", ReceiptKeys{Exact: "123456789012345678901234567890"}},
	} {
		if got := KeysOf(tc.id); got != tc.want {
			t.Errorf("KeysOf(%q) = %+v, want %+v", tc.id, got, tc.want)
		}
	}
}

func TestDeliveryState(t *testing.T) {
	t.Parallel()
	part := func(s DeliveryState) DeliveryPart { return DeliveryPart{State: s} }
	for _, tc := range []struct {
		parts []DeliveryPart
		want  DeliveryState
	}{
		{nil, DeliveryNone},
		{[]DeliveryPart{part(""), part("")}, DeliveryNone},
		{[]DeliveryPart{part(DeliveryDelivered), part("")}, DeliveryEnroute},
		{[]DeliveryPart{part(DeliveryDelivered), part(DeliveryDelivered)}, DeliveryDelivered},
		{[]DeliveryPart{part(DeliveryDelivered), part(DeliveryUndeliv)}, DeliveryUndeliv},
	} {
		if got := (Delivery{Parts: tc.parts}).State(); got != tc.want {
			t.Errorf("State of %+v = %q, want %q", tc.parts, got, tc.want)
		}
	}
}
