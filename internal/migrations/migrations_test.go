package migrations

import (
	"io/fs"
	"reflect"
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		files   fstest.MapFS
		want    []Migration
		wantErr bool
	}{
		{"sorted by version, not by name", fstest.MapFS{
			"m/0010_late.sql": {Data: []byte("C")},
			"m/0002_b.sql":    {Data: []byte("B")},
			"m/1_a.sql":       {Data: []byte("A")},
		}, []Migration{{1, "1_a.sql", "A"}, {2, "0002_b.sql", "B"}, {10, "0010_late.sql", "C"}}, false},
		{"empty directory", fstest.MapFS{"m": {Mode: fs.ModeDir | 0o755}}, nil, false},
		{"duplicate version", fstest.MapFS{
			"m/0001_a.sql": {Data: []byte("A")},
			"m/001_b.sql":  {Data: []byte("B")},
		}, nil, true},
		{"no number", fstest.MapFS{"m/init.sql": {}}, nil, true},
		{"not a number", fstest.MapFS{"m/x1_init.sql": {}}, nil, true},
		{"not .sql", fstest.MapFS{"m/0001_init.txt": {}}, nil, true},
		{"no directory", fstest.MapFS{}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Load(tt.files, "m")
			if (err != nil) != tt.wantErr {
				t.Fatalf("Load: err = %v, want error %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Load = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// FuzzLoad: a file of any name never makes Load panic, and what it loads
// is in strictly increasing version order.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{"0001_init.sql", "1_a.sql", "init.sql", "x1_init.sql", "0001_init.txt", "-1_neg.sql", "_.sql"} {
		f.Add(s, "0002_next.sql")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		fsys := fstest.MapFS{"m/" + a: {Data: []byte("A")}, "m/" + b: {Data: []byte("B")}}
		ms, err := Load(fsys, "m")
		if err != nil {
			return
		}
		for i := 1; i < len(ms); i++ {
			if ms[i].Version <= ms[i-1].Version {
				t.Fatalf("versions out of order: %+v", ms)
			}
		}
	})
}
