package callback

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// envelope is the outer, unencrypted part of a POST callback. Only Encrypt
// is covered by msg_signature; ToUserName and AgentID are informational.
type envelope struct {
	toUserName string
	agentID    string
	encrypt    string
}

// parseEnvelope reads the XML envelope or, when the body starts with '{',
// the JSON variant.
func parseEnvelope(body []byte) (envelope, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '{' {
		return parseJSONEnvelope(trimmed)
	}
	return parseXMLEnvelope(body)
}

func parseJSONEnvelope(body []byte) (envelope, error) {
	var raw struct {
		ToUserName string          `json:"tousername"`
		AgentID    json.RawMessage `json:"agentid"`
		Encrypt    *string         `json:"encrypt"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&raw); err != nil {
		return envelope{}, fmt.Errorf("json envelope: %w", ErrMalformed)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return envelope{}, fmt.Errorf("json envelope: trailing data: %w", ErrMalformed)
	}
	if raw.Encrypt == nil {
		return envelope{}, fmt.Errorf("json envelope: no encrypt: %w", ErrMalformed)
	}
	env := envelope{toUserName: raw.ToUserName, encrypt: strings.TrimSpace(*raw.Encrypt)}
	// agentid is a number in WeCom's JSON callbacks; accept a string too.
	if len(raw.AgentID) > 0 && string(raw.AgentID) != "null" {
		var s string
		if json.Unmarshal(raw.AgentID, &s) == nil {
			env.agentID = s
		} else {
			var n json.Number
			if json.Unmarshal(raw.AgentID, &n) != nil {
				return envelope{}, fmt.Errorf("json envelope: agentid: %w", ErrMalformed)
			}
			env.agentID = n.String()
		}
	}
	return env, nil
}

// parseXMLEnvelope walks the tokens of <xml>…</xml>. A DOCTYPE (or any other
// directive) is refused rather than ignored: WeCom never sends one, and
// encoding/xml would otherwise skip it silently. A repeated Encrypt is
// refused because it is ambiguous which one was signed.
func parseXMLEnvelope(body []byte) (envelope, error) {
	dec := xml.NewDecoder(bytes.NewReader(body))
	var env envelope
	var haveEncrypt, inRoot, done bool
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return envelope{}, fmt.Errorf("xml envelope: %w", ErrMalformed)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return envelope{}, fmt.Errorf("xml envelope: directive: %w", ErrMalformed)
		case xml.ProcInst, xml.Comment:
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 && !inRoot {
				return envelope{}, fmt.Errorf("xml envelope: text outside root: %w", ErrMalformed)
			}
		case xml.StartElement:
			if done {
				return envelope{}, fmt.Errorf("xml envelope: second root: %w", ErrMalformed)
			}
			if !inRoot {
				if t.Name.Local != "xml" {
					return envelope{}, fmt.Errorf("xml envelope: root is not xml: %w", ErrMalformed)
				}
				inRoot = true
				continue
			}
			switch t.Name.Local {
			case "Encrypt", "ToUserName", "AgentID":
			default:
				if err := dec.Skip(); err != nil {
					return envelope{}, fmt.Errorf("xml envelope: %w", ErrMalformed)
				}
				continue
			}
			text, err := elementText(dec)
			if err != nil {
				return envelope{}, err
			}
			switch t.Name.Local {
			case "Encrypt":
				if haveEncrypt {
					return envelope{}, fmt.Errorf("xml envelope: repeated Encrypt: %w", ErrMalformed)
				}
				haveEncrypt = true
				env.encrypt = text
			case "ToUserName":
				env.toUserName = text
			case "AgentID":
				env.agentID = text
			}
		case xml.EndElement:
			inRoot, done = false, true
		}
	}
	if !done {
		return envelope{}, fmt.Errorf("xml envelope: no root: %w", ErrMalformed)
	}
	if !haveEncrypt {
		return envelope{}, fmt.Errorf("xml envelope: no Encrypt: %w", ErrMalformed)
	}
	return env, nil
}

// elementText reads up to the end of the element just started and returns
// its trimmed text. Child elements are refused: no envelope field has any.
func elementText(dec *xml.Decoder) (string, error) {
	var sb strings.Builder
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", fmt.Errorf("xml envelope: %w", ErrMalformed)
		}
		switch t := tok.(type) {
		case xml.CharData:
			sb.Write(t)
		case xml.EndElement:
			return strings.TrimSpace(sb.String()), nil
		case xml.StartElement, xml.Directive:
			return "", fmt.Errorf("xml envelope: nested element: %w", ErrMalformed)
		}
	}
}
