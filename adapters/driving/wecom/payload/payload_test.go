package payload

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// The example of WECOM.md "Callback payloads" (WeCom's document 92130).
const docExample = `<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>1403610513</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType><UserID><![CDATA[zhangsan]]></UserID><ExternalUserID><![CDATA[woAJ2GCAAAXtWyujaWJHDDGi0mAAAA]]></ExternalUserID><State><![CDATA[teststate]]></State><WelcomeCode><![CDATA[WELCOMECODE]]></WelcomeCode></xml>`

func docEvent() Event {
	return Event{
		ToUserName:     "toUser",
		FromUserName:   "sys",
		CreateTime:     Int{Raw: "1403610513", Value: 1403610513, Valid: true},
		MsgType:        "event",
		Event:          "change_external_contact",
		ChangeType:     "add_external_contact",
		UserID:         "zhangsan",
		ExternalUserID: "woAJ2GCAAAXtWyujaWJHDDGi0mAAAA",
		State:          "teststate",
		WelcomeCode:    "WELCOMECODE",
	}
}

func num(raw string, v int64) Int { return Int{Raw: raw, Value: v, Valid: true} }

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		xml  string
		want func() Event
		kind string
	}{
		{"documentation example", docExample, docEvent, "change_external_contact/add_external_contact"},
		{"no CDATA, whitespace, other order, declaration", `<?xml version="1.0" encoding="UTF-8"?>
<xml>
  <ChangeType> add_external_contact </ChangeType>
  <Event>change_external_contact</Event>
  <ToUserName>toUser</ToUserName>
  <FromUserName>sys</FromUserName>
  <CreateTime>
    1403610513
  </CreateTime>
  <MsgType>event</MsgType>
  <UserID>zhangsan</UserID>
  <ExternalUserID><![CDATA[ woAJ2GCAAAXtWyujaWJHDDGi0mAAAA ]]></ExternalUserID>
  <State>teststate</State>
  <WelcomeCode>WELCOMECODE</WelcomeCode>
</xml>
`, docEvent, "change_external_contact/add_external_contact"},
		{"add without State, WelcomeCode or MsgType", `<xml><ToUserName>ww1</ToUserName><FromUserName>sys</FromUserName><CreateTime>1700000000</CreateTime><Event>change_external_contact</Event><ChangeType>add_external_contact</ChangeType><UserID>li</UserID><ExternalUserID>wmX</ExternalUserID></xml>`,
			func() Event {
				return Event{ToUserName: "ww1", FromUserName: "sys", CreateTime: num("1700000000", 1700000000),
					Event: "change_external_contact", ChangeType: "add_external_contact", UserID: "li", ExternalUserID: "wmX"}
			}, "change_external_contact/add_external_contact"},
		{"del_follow_user with State", `<xml><ToUserName>ww1</ToUserName><CreateTime>1700000001</CreateTime><MsgType>event</MsgType><Event>change_external_contact</Event><ChangeType>del_follow_user</ChangeType><UserID>li</UserID><ExternalUserID>wmX</ExternalUserID><State>qr-7</State></xml>`,
			func() Event {
				return Event{ToUserName: "ww1", CreateTime: num("1700000001", 1700000001), MsgType: "event",
					Event: "change_external_contact", ChangeType: "del_follow_user", UserID: "li", ExternalUserID: "wmX", State: "qr-7"}
			}, "change_external_contact/del_follow_user"},
		{"numeric-looking ids stay strings", `<xml><Event>change_external_contact</Event><ChangeType>del_external_contact</ChangeType><UserID>000123</UserID><ExternalUserID>12345678901234567890123</ExternalUserID><Source>DELETE_BY_TRANSFER</Source></xml>`,
			func() Event {
				return Event{Event: "change_external_contact", ChangeType: "del_external_contact",
					UserID: "000123", ExternalUserID: "12345678901234567890123", Source: "DELETE_BY_TRANSFER"}
			}, "change_external_contact/del_external_contact"},
		{"transfer_fail", `<xml><Event>change_external_contact</Event><ChangeType>transfer_fail</ChangeType><FailReason><![CDATA[customer_refused]]></FailReason><UserID>new</UserID><ExternalUserID>wmX</ExternalUserID></xml>`,
			func() Event {
				return Event{Event: "change_external_contact", ChangeType: "transfer_fail", FailReason: "customer_refused", UserID: "new", ExternalUserID: "wmX"}
			}, "change_external_contact/transfer_fail"},
		{"group member added", `<xml><ToUserName><![CDATA[ww1]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>1403610513</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_chat]]></Event><ChatId><![CDATA[wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA]]></ChatId><ChangeType><![CDATA[update]]></ChangeType><UpdateDetail><![CDATA[add_member]]></UpdateDetail><JoinScene>3</JoinScene><MemChangeCnt>2</MemChangeCnt><MemChangeList><Item>wmEAlECwAAHrbWYDOK5u3Af13xlYDDNQ</Item><Item><![CDATA[wmEAlECwAAHrbWYDOK5u3Af13xlYDDNR]]></Item></MemChangeList><LastMemVer><![CDATA[9c3f97c2ada667dfb5f6d03308d963e1]]></LastMemVer><CurMemVer><![CDATA[71217227bbd112ecfe3a49c482195cb4]]></CurMemVer></xml>`,
			func() Event {
				return Event{ToUserName: "ww1", FromUserName: "sys", CreateTime: num("1403610513", 1403610513), MsgType: "event",
					Event: "change_external_chat", ChatID: "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA", ChangeType: "update", UpdateDetail: "add_member",
					JoinScene: num("3", 3), MemChangeCnt: num("2", 2),
					MemChangeList: []string{"wmEAlECwAAHrbWYDOK5u3Af13xlYDDNQ", "wmEAlECwAAHrbWYDOK5u3Af13xlYDDNR"},
					LastMemVer:    "9c3f97c2ada667dfb5f6d03308d963e1", CurMemVer: "71217227bbd112ecfe3a49c482195cb4"}
			}, "change_external_chat/update/add_member"},
		{"group member left, QuitScene 0, ChatID spelt differently", `<xml><Event>change_external_chat</Event><ChatID>wr1</ChatID><ChangeType>update</ChangeType><UpdateDetail>del_member</UpdateDetail><QuitScene>0</QuitScene><MemChangeList></MemChangeList></xml>`,
			func() Event {
				return Event{Event: "change_external_chat", ChatID: "wr1", ChangeType: "update", UpdateDetail: "del_member",
					QuitScene: num("0", 0), MemChangeList: []string{}}
			}, "change_external_chat/update/del_member"},
		{"group dismissed", `<xml><Event>change_external_chat</Event><ChatId>wr1</ChatId><ChangeType>dismiss</ChangeType></xml>`,
			func() Event { return Event{Event: "change_external_chat", ChatID: "wr1", ChangeType: "dismiss"} },
			"change_external_chat/dismiss"},
		{"tag group changed", `<xml><Event>change_external_tag</Event><Id>etXXXXXX</Id><TagType>tag_group</TagType><ChangeType>update</ChangeType><StrategyId>1</StrategyId></xml>`,
			func() Event {
				return Event{Event: "change_external_tag", ID: "etXXXXXX", TagType: "tag_group", ChangeType: "update", StrategyID: "1"}
			}, "change_external_tag/update"},
		{"third-party dialect", `<xml><SuiteId><![CDATA[ww4asffe9xxx4c0f4c]]></SuiteId><AuthCorpId><![CDATA[wxf8b4f85f3a794e77]]></AuthCorpId><InfoType><![CDATA[change_external_contact]]></InfoType><TimeStamp>1403610513</TimeStamp><ChangeType><![CDATA[add_external_contact]]></ChangeType><UserID><![CDATA[zhangsan]]></UserID><ExternalUserID><![CDATA[woAJ2GCAAAXtWyujaWJHDDGi0mAAAA]]></ExternalUserID><State><![CDATA[teststate]]></State><WelcomeCode><![CDATA[WELCOMECODE]]></WelcomeCode></xml>`,
			func() Event {
				return Event{SuiteID: "ww4asffe9xxx4c0f4c", AuthCorpID: "wxf8b4f85f3a794e77", InfoType: "change_external_contact",
					TimeStamp: num("1403610513", 1403610513), ChangeType: "add_external_contact", UserID: "zhangsan",
					ExternalUserID: "woAJ2GCAAAXtWyujaWJHDDGi0mAAAA", State: "teststate", WelcomeCode: "WELCOMECODE"}
			}, "change_external_contact/add_external_contact"},
		{"unknown elements kept, message callback", "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n<FromUserName><![CDATA[mycreate]]></FromUserName>\n<CreateTime>1409659813</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[hello]]></Content>\n<MsgId>4561255354251345929</MsgId>\n<AgentID>218</AgentID>\n</xml>",
			func() Event {
				return Event{ToUserName: "wx5823bf96d3bd56c7", FromUserName: "mycreate", CreateTime: num("1409659813", 1409659813), MsgType: "text",
					Extra: []Field{{"Content", "hello"}, {"MsgId", "4561255354251345929"}, {"AgentID", "218"}}}
			}, ""},
		{"repeated and nested elements", `<xml><UserID>first</UserID><userid>second</userid><New><A>x</A> <B>y</B></New><MemChangeList><Item>m1</Item><Other>o</Other></MemChangeList><MemChangeList><Item>m2</Item></MemChangeList></xml>`,
			func() Event {
				return Event{UserID: "first", MemChangeList: []string{"m1"},
					Extra: []Field{{"userid", "second"}, {"New", "x y"}, {"MemChangeList/Other", "o"}, {"MemChangeList", "m2"}}}
			}, ""},
		{"garbage and absent integers", `<xml><CreateTime>yesterday</CreateTime><JoinScene></JoinScene><QuitScene>99999999999999999999</QuitScene></xml>`,
			func() Event {
				return Event{CreateTime: Int{Raw: "yesterday"}, QuitScene: Int{Raw: "99999999999999999999"}}
			}, ""},
		{"non-breaking space is content", "<xml><State>\u00a0s\u00a0</State></xml>",
			func() Event { return Event{State: "\u00a0s\u00a0"} }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse([]byte(tc.xml))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if want := tc.want(); !reflect.DeepEqual(got, want) {
				t.Fatalf("Parse =\n%#v\nwant\n%#v", got, want)
			}
			if got.Kind() != tc.kind {
				t.Errorf("Kind = %q, want %q", got.Kind(), tc.kind)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		xml  string
		want error
	}{
		{"empty", "", ErrMalformed},
		{"not xml", "hello", ErrMalformed},
		{"json", `{"Event":"x"}`, ErrMalformed},
		{"wrong root", "<event><Event>x</Event></event>", ErrMalformed},
		{"two roots", "<xml></xml><xml></xml>", ErrMalformed},
		{"trailing text", "<xml></xml>x", ErrMalformed},
		{"unclosed", "<xml><Event>x</Event>", ErrMalformed},
		{"mismatched", "<xml><Event>x</Ev></xml>", ErrMalformed},
		{"doctype", `<!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa">]><xml><State>&a;</State></xml>`, ErrMalformed},
		{"external entity", `<!DOCTYPE xml [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><State>&e;</State></xml>`, ErrMalformed},
		{"undefined entity", `<xml><State>&e;</State></xml>`, ErrMalformed},
		{"NUL", "<xml><UserID>a\x00b</UserID></xml>", ErrMalformed},
		{"NUL reference", "<xml><UserID>a&#0;b</UserID></xml>", ErrMalformed},
		{"C0 control", "<xml><UserID>a\x01b</UserID></xml>", ErrMalformed},
		{"invalid UTF-8", "<xml><UserID>a\xffb</UserID></xml>", ErrMalformed},
		{"too large", "<xml><Extra>" + strings.Repeat("x", MaxSize) + "</Extra></xml>", ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Parse([]byte(tc.xml))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !reflect.DeepEqual(e, Event{}) {
				t.Fatalf("event returned with an error: %+v", e)
			}
			if strings.Contains(err.Error(), "passwd") || strings.Contains(err.Error(), "aaaa") {
				t.Fatalf("error quotes the input: %v", err)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	if err := docEvent().Validate(); err != nil {
		t.Fatalf("doc example: %v", err)
	}
	e := docEvent()
	e.UserID = "a\x00b"
	e.ExternalUserID = "wm\x7f"    // DEL
	e.State = "ok\tand\nmultiline" // allowed
	e.WelcomeCode = "\xff\xfe"
	e.ChatID = strings.Repeat("c", MaxIDLen+1)
	e.ID = strings.Repeat("c", MaxIDLen) // at the limit
	e.Event = strings.Repeat("e", MaxCodeLen+1)
	e.Source = "x\u0085y" // C1 control (NEL)
	e.FailReason = "a\rb"
	e.CreateTime = Int{Raw: "soon"}
	e.MemChangeList = []string{"m1", "", "m\x1b"}
	e.Extra = []Field{{"Anything", "\x00"}} // not checked

	err := e.Validate()
	var ve *ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want *ValidationError wrapping ErrInvalid", err)
	}
	want := []FieldError{
		{"CreateTime", ReasonNotInteger},
		{"Event", ReasonTooLong},
		{"UserID", ReasonControl},
		{"ExternalUserID", ReasonControl},
		{"WelcomeCode", ReasonInvalidUTF8},
		{"Source", ReasonControl},
		{"FailReason", ReasonControl},
		{"ChatId", ReasonTooLong},
		{"MemChangeList[1]", ReasonEmpty},
		{"MemChangeList[2]", ReasonControl},
	}
	if !reflect.DeepEqual(ve.Fields, want) {
		t.Fatalf("fields =\n%v\nwant\n%v", ve.Fields, want)
	}
	if msg := err.Error(); strings.Contains(msg, "soon") || strings.Contains(msg, "ccc") {
		t.Fatalf("error quotes values: %s", msg)
	}

	many := Event{MemChangeList: make([]string, MaxMembers+1)}
	for i := range many.MemChangeList {
		many.MemChangeList[i] = "m"
	}
	if err := many.Validate(); !errors.As(err, &ve) || ve.Fields[0] != (FieldError{"MemChangeList", ReasonTooMany}) {
		t.Fatalf("too many members: %v", err)
	}
}

func TestKindCorpTime(t *testing.T) {
	for _, tc := range []struct {
		e    Event
		kind string
	}{
		{Event{Event: "change_external_chat", ChangeType: "update", UpdateDetail: "change_owner"}, "change_external_chat/update/change_owner"},
		{Event{Event: "change_external_chat", ChangeType: "update"}, "change_external_chat/update"},
		{Event{Event: "change_external_chat", ChangeType: "create", UpdateDetail: "add_member"}, "change_external_chat/create"},
		{Event{Event: "change_external_contact", ChangeType: "add_external_contact", UpdateDetail: "x"}, "change_external_contact/add_external_contact"},
		{Event{InfoType: "suite_ticket"}, "suite_ticket"},
		{Event{ChangeType: "add_external_contact"}, "/add_external_contact"},
		{Event{}, ""},
	} {
		if got := tc.e.Kind(); got != tc.kind {
			t.Errorf("%+v: Kind = %q, want %q", tc.e, got, tc.kind)
		}
	}
	if c := (Event{ToUserName: "ww1"}).Corp(); c != "ww1" {
		t.Errorf("Corp = %q", c)
	}
	if c := (Event{ToUserName: "ww1", AuthCorpID: "ww2"}).Corp(); c != "ww2" {
		t.Errorf("third-party Corp = %q", c)
	}
	if tm, ok := docEvent().Time(); !ok || tm.Unix() != 1403610513 {
		t.Errorf("Time = %v, %v", tm, ok)
	}
	if tm, ok := (Event{TimeStamp: num("5", 5)}).Time(); !ok || tm.Unix() != 5 {
		t.Errorf("third-party Time = %v, %v", tm, ok)
	}
	if _, ok := (Event{CreateTime: Int{Raw: "x"}}).Time(); ok {
		t.Error("Time from garbage")
	}
}
