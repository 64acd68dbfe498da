package api

import (
	"errors"
	"testing"
)

// FuzzDecodeAnswer feeds WeCom's answers (outside input) to the decoder
// of every answer shape: it never panics, and either decodes, or returns
// an *Error for a non-zero errcode, or an error wrapping ErrDecode.
func FuzzDecodeAnswer(f *testing.F) {
	for _, s := range []string{
		`{"errcode":0,"errmsg":"ok","follow_user":["zhangsan",10086]}`,
		`{"errcode":0,"errmsg":"ok","external_contact_list":[{"external_contact":{"external_userid":"wm1","name":"李四","type":"1","gender":2},"follow_info":{"userid":"rocky","remark":"李部长","createtime":1525779812,"tag_id":["et1"],"add_way":1,"state":"外联二维码1"}}],"next_cursor":"r9FqSqsI8f"}`,
		`{"errcode":0,"errmsg":"ok","group_chat":{"chat_id":"wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA","name":"销售客服群","owner":"ZhuShengBen","create_time":1572505490,"notice":"文档群公告举例","member_list":[{"userid":"abel","type":1,"join_time":1572505491,"join_scene":1,"invitor":{"userid":"jack"},"group_nickname":"客服小张","name":"张三丰"}],"admin_list":[{"userid":"sam"}],"member_version":"71217227bbd112ecfe3a49c482195cb4"}}`,
		`{"errcode":0,"errmsg":"ok","tag_group":[{"group_id":"g1","group_name":"n","create_time":1557838797,"order":1,"deleted":false,"tag":[{"id":"t1","name":"n","order":"2","deleted":0}]}]}`,
		`{"errcode":0,"errmsg":"ok","customer":[{"external_userid":"wm1","status":2,"takeover_time":1588262400}],"next_cursor":""}`,
		`{"errcode":40096,"errmsg":"invalid external userid","follow_user":[]}`,
		`{"errcode":"-1","errmsg":"system busy"}`,
		`{"errmsg":"ok"}`, `null`, `[]`, `{"errcode":0.5}`, `{"errcode":0,"follow_user":{"a":1}}`, ``, `{"errcode":0} trailing`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var batch struct {
			wireStatus
			ExternalContactList []struct {
				ExternalContact wireCustomer `json:"external_contact"`
				FollowInfo      wireFollow   `json:"follow_info"`
			} `json:"external_contact_list"`
			NextCursor str `json:"next_cursor"`
		}
		var users struct {
			wireStatus
			FollowUser []str `json:"follow_user"`
		}
		var tags struct {
			wireStatus
			TagGroup []struct {
				GroupID str  `json:"group_id"`
				Order   num  `json:"order"`
				Deleted flag `json:"deleted"`
			} `json:"tag_group"`
		}
		for _, out := range []any{&batch, &users, &tags} {
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
		for _, r := range batch.ExternalContactList {
			_ = r.FollowInfo.follow()
			_ = r.ExternalContact.customer()
		}
	})
}
