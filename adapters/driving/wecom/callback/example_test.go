package callback_test

import (
	"fmt"
	"net/url"
	"time"

	"github.com/custody/custody/adapters/driving/wecom/callback"
)

// The URL check with WeCom's sample: parse the raw query once and answer
// with the bare plaintext.
func ExampleCrypto_VerifyURL() {
	c, err := callback.New(callback.Options{
		Keys:       []callback.Key{{Token: "QDG6eK", EncodingAESKey: "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"}},
		ReceiveIDs: []string{"wx5823bf96d3bd56c7"},
	})
	if err != nil {
		panic(err)
	}
	q, _ := url.ParseQuery("msg_signature=5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3&timestamp=1409659589&nonce=263014780" +
		"&echostr=P9nAzCzyDtyTWESHep1vC5X9xho%2FqYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp%2B4RPcs8TgAE7OaBO%2BFZXvnaqQ%3D%3D")
	reply, err := c.VerifyURL(q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), q.Get("echostr"))
	fmt.Printf("%s %v\n", reply, err)
	// The sample is from 2014: a live check would refuse it as stale.
	fmt.Println(c.CheckTimestamp(q.Get("timestamp"), time.Unix(1409659589+30, 0)))
	// Output:
	// 1616140317555161061 <nil>
	// <nil>
}
