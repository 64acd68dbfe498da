package api

import (
	"errors"
	"testing"
)

// FuzzDecodeMassMessageAnswers feeds arbitrary bodies to the decoders of
// get_groupmsg_list_v2, get_groupmsg_task and get_groupmsg_send_result:
// an answer decodes, or fails with an *Error (an errcode) or ErrDecode;
// never a panic, and a decoded element always names its message, member
// or recipient.
func FuzzDecodeMassMessageAnswers(f *testing.F) {
	for _, s := range []string{
		`{"errcode":0,"errmsg":"ok","next_cursor":"CURSOR","group_msg_list":[{"msgid":"msgGCAAAXtWyujaWJHDDGi0mAAAA","creator":"xxxx","create_time":"1605171726","create_type":1,"text":{"content":"文本消息内容"},"attachments":[{"msgtype":"image","image":{"media_id":"MEDIA_ID"}}]}]}`,
		`{"errcode":0,"errmsg":"ok","next_cursor":"CURSOR","task_list":[{"userid":"zhangsan","status":1,"send_time":1552536375}]}`,
		`{"errcode":0,"errmsg":"ok","next_cursor":"CURSOR","send_list":[{"external_userid":"wmqfasd1e19278asdasAAAA","chat_id":"wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA","userid":"zhangsan","status":1,"send_time":1552536375}]}`,
		`{"errcode":0,"send_list":[{"userid":"a","status":"1","send_time":"x"}]}`, `{"errcode":0,"task_list":[{"userid":null,"status":null}]}`,
		`{"errcode":41063,"errmsg":"msgid invalid"}`, `{"errcode":0,"group_msg_list":{"msgid":1}}`, `{"errcode":0,"group_msg_list":[{"create_time":1e400}]}`,
		`{"errmsg":"ok"}`, `null`, `[]`, ``, `{"errcode":0} {}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var list massListAnswer
		var tasks massTaskAnswer
		var sends massSendAnswer
		for _, out := range []any{&list, &tasks, &sends} {
			err := decodeAnswer("fuzz", body, out)
			var ae *Error
			switch {
			case err == nil:
			case errors.As(err, &ae):
				if ae.Code == 0 || ae.API != "fuzz" {
					t.Fatalf("*Error without errcode: %v", err)
				}
			case !errors.Is(err, ErrDecode):
				t.Fatalf("error of no class: %v", err)
			}
		}
		for _, m := range list.messages() {
			if m.MsgID == "" {
				t.Fatalf("message without msgid: %+v", m)
			}
		}
		for _, tk := range tasks.tasks() {
			if tk.UserID == "" {
				t.Fatalf("task without userid: %+v", tk)
			}
		}
		for _, s := range sends.sends() {
			if s.ExternalUserID == "" && s.ChatID == "" {
				t.Fatalf("send without recipient: %+v", s)
			}
		}
	})
}
