package api

import (
	"context"
	"fmt"
	"net/url"
	"time"
)

const apiGetToken = "gettoken"

// accessToken returns the cached token, or fetches one.
func (c *Client) accessToken(ctx context.Context) (string, error) {
	if t := c.cachedToken(); t != "" {
		return t, nil
	}
	return c.refreshToken(ctx, "")
}

func (c *Client) cachedToken() string {
	c.tokenMu.Lock()
	defer c.tokenMu.Unlock()
	if c.token != "" && c.o.Now().Before(c.tokenExpires) {
		return c.token
	}
	return ""
}

// refreshToken fetches a token once for all concurrent callers: those
// that arrive while a fetch is under way wait for it; those that arrive
// after it find the new token cached. rejected, when set, is a token
// WeCom refused: it leaves the cache first, so no caller is given it
// again. The fetch runs on its own deadline, so one caller giving up does
// not fail the others; each caller stops waiting when its ctx ends.
func (c *Client) refreshToken(ctx context.Context, rejected string) (string, error) {
	if rejected != "" {
		c.tokenMu.Lock()
		if c.token == rejected {
			c.token = ""
		}
		c.tokenMu.Unlock()
	}
	for range 2 { // a fetch that began before rejected left the cache may return it
		ch := c.tokenFlight.DoChan("token", func() (any, error) {
			if t := c.cachedToken(); t != "" {
				return t, nil
			}
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.o.MaxElapsed+c.o.CallTimeout)
			defer cancel()
			return c.fetchToken(fctx)
		})
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("wecom api %s: %w", apiGetToken, ctx.Err())
		case res := <-ch:
			if res.Err != nil {
				return "", res.Err
			}
			if t := res.Val.(string); t != rejected {
				return t, nil
			}
		}
	}
	return "", &Error{API: apiGetToken, Msg: "WeCom keeps issuing a token it refuses"}
}

// fetchToken calls gettoken (with the retry policy) and caches the token
// until TokenMargin before it expires.
func (c *Client) fetchToken(ctx context.Context) (string, error) {
	var ans struct {
		wireStatus
		AccessToken str `json:"access_token"`
		ExpiresIn   num `json:"expires_in"`
	}
	err := c.do(ctx, request{api: apiGetToken, method: "GET", anonymous: true,
		query: url.Values{"corpid": {c.corpID}, "corpsecret": {c.secret}}}, &ans)
	if err != nil {
		return "", err
	}
	if ans.AccessToken == "" {
		return "", fmt.Errorf("wecom api %s: no access_token: %w", apiGetToken, ErrDecode)
	}
	ttl := time.Duration(ans.ExpiresIn) * time.Second
	if ttl <= 0 {
		ttl = 7200 * time.Second
	}
	life := ttl - c.o.TokenMargin
	if life < ttl/2 {
		life = ttl / 2
	}
	c.tokenMu.Lock()
	defer c.tokenMu.Unlock()
	c.token, c.tokenExpires = string(ans.AccessToken), c.o.Now().Add(life)
	return c.token, nil
}
