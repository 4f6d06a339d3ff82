package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"evote/store"
	"evote/store/sqlite"
	"evote/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		Fresh: func(t *testing.T) func() store.Store {
			path := filepath.Join(t.TempDir(), "evote.db")
			return func() store.Store {
				s, err := sqlite.Open(context.Background(), path)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
		},
		Exec: func(s store.Store, q string) error {
			_, err := s.(*sqlite.Store).DB().Exec(q)
			return err
		},
	})
}
