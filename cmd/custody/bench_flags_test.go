package main

import (
	"errors"
	"strings"
	"testing"
)

// TestBenchFlags: custody bench takes bounded client and instance counts
// and refuses the rest with a usage error, before it starts anything.
func TestBenchFlags(t *testing.T) {
	c, err := parseBenchFlags([]string{"-hot", "-instances", "3", "-clients", "48, 1"})
	if err != nil || !c.hot || c.instances != 3 || len(c.clients) != 2 || c.clients[0] != 48 || c.clients[1] != 1 {
		t.Fatalf("good flags: %+v, %v", c, err)
	}
	if c, err := parseBenchFlags(nil); err != nil || c.hot || c.instances != 1 || len(c.clients) != 1 || c.clients[0] != 16 {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	for _, args := range [][]string{
		{"-instances", "0"},
		{"-instances", "-1"},
		{"-instances", "17"},
		{"-instances", "99999999999999999999"},
		{"-clients", "0"},
		{"-clients", "-16"},
		{"-clients", "1025"},
		{"-clients", "16,"},
		{"-clients", "16\x00"},
		{"-clients", strings.Repeat("1,", 1<<15) + "x"},
		{"-rounds", "0"},
		{"-round", "-1s"},
		{"-hot=maybe"},
	} {
		if _, err := parseBenchFlags(args); !errors.Is(err, errUsage) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
}
