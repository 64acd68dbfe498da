package reconcile_test

import (
	"testing"

	"github.com/custody/custody/adapters/testkit/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }
