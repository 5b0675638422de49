package ops

import "testing"

func TestCommandLabel(t *testing.T) {
	for in, want := range map[string]string{
		"DeliverSM": "deliver_sm", "SubmitSMResp": "submit_sm_resp", "GenericNACK": "generic_nack",
		"EnquireLinkResp": "enquire_link_resp", "BindTransceiver": "bind_transceiver", "DataSM": "data_sm",
		"0x00000099": "0x00000099",
	} {
		if got := commandLabel(in); got != want {
			t.Errorf("commandLabel(%q) = %q, want %q", in, got, want)
		}
	}
	if got := statusLabel(0x58); got != "0x00000058" {
		t.Errorf("statusLabel(0x58) = %q", got)
	}
}
