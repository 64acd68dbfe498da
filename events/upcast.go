package events

import (
	"encoding/json"
	"errors"
	"time"
)

// consentV1 is the stored shape of consent.recorded v1.
type consentV1 struct {
	CustomerID string    `json:"customer_id"`
	Purpose    string    `json:"purpose"`
	Agreed     *bool     `json:"agreed"`
	ChangedAt  time.Time `json:"changed_at"`
}

// upcastConsentV1 maps v1's boolean to v2's three-valued state.
func upcastConsentV1(data []byte) ([]byte, error) {
	var v1 consentV1
	if err := strictUnmarshal(data, &v1); err != nil {
		return nil, err
	}
	if v1.Agreed == nil {
		return nil, errors.New("consent.recorded v1 without agreed")
	}
	state := ConsentDisagree
	if *v1.Agreed {
		state = ConsentAgree
	}
	return json.Marshal(ConsentRecorded{
		CustomerID: v1.CustomerID,
		Purpose:    v1.Purpose,
		State:      state,
		ChangedAt:  v1.ChangedAt,
	})
}

// upcastHandoverRequestedV1 renames v1's plain `message` to
// `legacy_message`. It cannot seal it: sealing needs the customer's key,
// which decoding does not have (and an erased customer's no longer exists).
func upcastHandoverRequestedV1(data []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	if msg, ok := m["message"]; ok {
		delete(m, "message")
		m["legacy_message"] = msg
	}
	return json.Marshal(m)
}

// upcastCorpSettingsV1 adds v2's mass-message caps to a v1
// corp.settings_changed: WeCom's defaults, which the rules applied before
// the caps were settings.
func upcastCorpSettingsV1(data []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("corp.settings_changed v1 is not an object")
	}
	for k, v := range map[string]string{
		"mass_message_cap_day": "off", "mass_message_cap_week": "off", "mass_message_cap_month": "days_in_month",
	} {
		if _, ok := m[k]; !ok {
			m[k], _ = json.Marshal(v)
		}
	}
	return json.Marshal(m)
}
